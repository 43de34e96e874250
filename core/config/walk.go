package config

import (
	"math"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// kind is the shape a spec expects of a YAML node.
type kind int

const (
	kindMap    kind = iota // a mapping with the fixed keys of spec.fields
	kindNamed              // a mapping from names the user chooses to spec.elem
	kindList               // a sequence of spec.elem
	kindString             // any scalar, decoded as text (DM's 64 for chunk-filesize)
	kindInt                // an integer
	kindUint32             // an integer from 0 to 2^32-1
	kindBool               // true or false (also YAML 1.1's yes/no/on/off, as DM's yaml.v2 reads them)
	kindAny                // not inspected
)

// spec describes the keys DM defines at one place of a file.
type spec struct {
	kind   kind
	fields map[string]*field // kindMap
	elem   *spec             // kindNamed, kindList
}

// field is one key of a kindMap spec.
type field struct {
	spec *spec
	// alias, when set, makes the key a deprecated spelling of the key alias:
	// it is renamed before decoding, and writing both is an error.
	alias string
	// check, when set, rejects a value it returns a message for (typically
	// "not supported yet"); the key is then dropped.
	check func(ast.Node) string
	// warn, when set, is why the key is accepted but has no effect; it is
	// reported in the Warnings.
	warn string
	// drop removes the key before decoding: it has no field in the Go types.
	drop bool
}

var (
	anySpec    = &spec{kind: kindAny}
	stringSpec = &spec{kind: kindString}
	intSpec    = &spec{kind: kindInt}
	uint32Spec = &spec{kind: kindUint32}
	boolSpec   = &spec{kind: kindBool}
	listSpec   = &spec{kind: kindList, elem: stringSpec}  // []string
	stringMap  = &spec{kind: kindNamed, elem: stringSpec} // map[string]string
)

func mapSpec(fields map[string]*field) *spec { return &spec{kind: kindMap, fields: fields} }
func namedSpec(elem *spec) *spec             { return &spec{kind: kindNamed, elem: elem} }
func listOf(elem *spec) *spec                { return &spec{kind: kindList, elem: elem} }

// walker checks a syntax tree against a spec: it records the position of
// every key, reports unknown, rejected and mistyped keys and warns about
// ignored ones, and prunes the tree so that the strict decode that follows
// sees only keys the Go types have.
type walker struct {
	r       *report
	anchors map[string]ast.Node
}

func newWalker(r *report) *walker {
	return &walker{r: r, anchors: map[string]ast.Node{}}
}

// walk checks node n at path canon (shown as shown) against s. It returns
// the node to decode in n's place, and false when n must not be decoded.
func (w *walker) walk(n ast.Node, s *spec, canon, shown string) (ast.Node, bool) {
	if tag, ok := n.(*ast.TagNode); ok && s.kind >= kindString && s.kind < kindAny {
		// go-yaml v1.19 cannot decode "!!int 5" into an int; the type of a
		// scalar is checked here, so its tag is not needed.
		n = tag.Value
	}
	v := w.unwrap(n)
	if isNull(v) || s.kind == kindAny {
		return n, true
	}
	switch s.kind {
	case kindMap:
		return n, w.mapping(v, s, canon, shown)
	case kindNamed:
		return n, w.named(v, s, canon, shown)
	case kindList:
		return n, w.list(v, s, canon, shown)
	}
	b, ok := w.scalar(v, s, canon)
	if !ok {
		return nil, false
	}
	if b == nil {
		return n, true
	}
	if a, isAnchor := n.(*ast.AnchorNode); isAnchor {
		a.Value = b // keep the anchor, which later aliases refer to
		return n, true
	}
	return b, true
}

// mapping checks a mapping with fixed keys, removing the keys that must not
// be decoded.
func (w *walker) mapping(n ast.Node, s *spec, canon, shown string) bool {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		w.r.badf(canon, "must be a mapping")
		return false
	}
	skip := w.aliasPairs(m, s, canon, shown)
	kept := m.Values[:0]
	for _, mv := range m.Values {
		if skip[mv] {
			continue
		}
		if mv.Key.IsMergeKey() {
			w.merge(mv.Value, s, canon, shown)
			kept = append(kept, mv)
			continue
		}
		if w.entry(m, mv, s, canon, shown) {
			kept = append(kept, mv)
		}
	}
	m.Values = kept
	return true
}

// aliasPairs settles a key written under both its deprecated and its new
// spelling as DM does: DM reads the deprecated one only when the new one is
// empty. It returns the keys to drop: the empty one of the two, or, when
// both ask for something, the deprecated one, with a warning.
func (w *walker) aliasPairs(m *ast.MappingNode, s *spec, canon, shown string) map[*ast.MappingValueNode]bool {
	var skip map[*ast.MappingValueNode]bool
	for _, mv := range m.Values {
		if mv.Key.IsMergeKey() {
			continue
		}
		key := keyString(mv.Key)
		f := s.fields[key]
		if f == nil || f.alias == "" {
			continue
		}
		other := findKey(m, f.alias)
		if other == nil {
			continue
		}
		if skip == nil {
			skip = map[*ast.MappingValueNode]bool{}
		}
		switch {
		case isEmpty(w.unwrap(mv.Value)):
			skip[mv] = true
		case isEmpty(w.unwrap(other.Value)):
			skip[other] = true
		default:
			kc, ks := childPath(canon, key), childPath(shown, key)
			w.r.record(kc, ks, mv.Key.GetToken().Position)
			w.r.warnf(kc, "ignored: %s is also written (line %d), and DM uses it", f.alias,
				other.Key.GetToken().Position.Line)
			skip[mv] = true
		}
	}
	return skip
}

// entry checks one key of a mapping and reports whether to keep it.
func (w *walker) entry(m *ast.MappingNode, mv *ast.MappingValueNode, s *spec, canon, shown string) bool {
	key := keyString(mv.Key)
	kc, ks := childPath(canon, key), childPath(shown, key)
	pos := mv.Key.GetToken().Position
	f := s.fields[key]
	if f == nil {
		w.r.record(kc, ks, pos)
		w.r.badf(kc, "unknown key%s", suggest(key, s.fields))
		return false
	}
	if f.alias != "" {
		w.r.record(kc, ks, pos)
		kc = childPath(canon, f.alias)
		renameKey(mv.Key, f.alias)
		f = s.fields[f.alias]
	}
	w.r.record(kc, ks, pos)
	if f.check != nil {
		if msg := f.check(w.unwrap(mv.Value)); msg != "" {
			w.r.badf(kc, "%s", msg)
			return false
		}
	}
	if f.warn != "" {
		w.r.warnf(kc, "ignored: %s", f.warn)
	}
	v, ok := w.walk(mv.Value, f.spec, kc, ks)
	if !ok {
		return false
	}
	mv.Value = v
	return !f.drop
}

// merge checks the mappings a merge key ("<<: *base" or "<<: [*a, *b]")
// brings into the mapping at canon.
func (w *walker) merge(n ast.Node, s *spec, canon, shown string) {
	if l, ok := w.unwrap(n).(*ast.SequenceNode); ok {
		for _, e := range l.Values {
			w.walk(e, s, canon, shown)
		}
		return
	}
	w.walk(n, s, canon, shown)
}

// named checks a mapping from user-chosen names (rule names, session
// variables) to values of one spec.
func (w *walker) named(n ast.Node, s *spec, canon, shown string) bool {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		w.r.badf(canon, "must be a mapping")
		return false
	}
	for _, mv := range m.Values {
		if mv.Key.IsMergeKey() {
			w.merge(mv.Value, s, canon, shown)
			continue
		}
		name := keyString(mv.Key)
		kc, ks := childPath(canon, name), childPath(shown, name)
		w.r.record(kc, ks, mv.Key.GetToken().Position)
		mv.Value = w.element(mv.Value, s.elem, kc, ks)
	}
	return true
}

// list checks a sequence whose elements all follow one spec.
func (w *walker) list(n ast.Node, s *spec, canon, shown string) bool {
	l, ok := n.(*ast.SequenceNode)
	if !ok {
		w.r.badf(canon, "must be a list")
		return false
	}
	for i, e := range l.Values {
		ic, is := indexPath(canon, i), indexPath(shown, i)
		w.r.record(ic, is, position(w.unwrap(e)))
		l.Values[i] = w.element(e, s.elem, ic, is)
	}
	return true
}

// element checks an element of a named mapping or a list. A bad element is
// replaced by null rather than removed, so that list indexes keep matching
// the file.
func (w *walker) element(e ast.Node, s *spec, canon, shown string) ast.Node {
	if s.kind == kindMap && isNull(w.unwrap(e)) {
		w.r.badf(canon, "must be a mapping")
		return ast.Null(e.GetToken())
	}
	v, ok := w.walk(e, s, canon, shown)
	if !ok {
		return ast.Null(e.GetToken())
	}
	return v
}

// scalar checks a scalar. It returns a replacement node when the value must
// be decoded differently (yes/no as a bool), and false when it is rejected.
func (w *walker) scalar(n ast.Node, s *spec, canon string) (ast.Node, bool) {
	var msg string
	switch s.kind {
	case kindString:
		switch n.(type) {
		case *ast.StringNode, *ast.LiteralNode:
			return nil, true
		case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
			// Keep the text as written, as DM's yaml.v2 does: go-yaml would
			// turn the password 010 into "8" and 1.50 into "1.5".
			tk := n.GetToken()
			return &ast.StringNode{BaseNode: &ast.BaseNode{}, Token: tk, Value: tk.Value}, true
		}
		msg = "must be a string"
	case kindInt:
		if v, ok := intValue(n); ok && v >= math.MinInt && v <= math.MaxInt {
			return nil, true
		}
		msg = "must be an integer"
	case kindUint32:
		if v, ok := intValue(n); ok && v >= 0 && v <= math.MaxUint32 {
			return nil, true
		}
		msg = "must be an integer from 0 to 4294967295"
	case kindBool:
		if _, ok := n.(*ast.BoolNode); ok {
			return nil, true
		}
		if b := yaml11Bool(n); b != nil {
			return b, true
		}
		msg = "must be true or false"
	}
	w.r.badf(canon, "%s", msg)
	return nil, false
}

// unwrap returns the node an anchor, alias or tag stands for, remembering
// anchors so that later aliases resolve.
func (w *walker) unwrap(n ast.Node) ast.Node {
	for range 16 { // bounds alias chains
		switch v := n.(type) {
		case *ast.AnchorNode:
			w.anchors[v.Name.GetToken().Value] = v.Value
			n = v.Value
		case *ast.AliasNode:
			target, ok := w.anchors[v.Value.GetToken().Value]
			if !ok {
				return n
			}
			n = target
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return n
}

func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

// isEmpty reports whether a value asks for nothing: null, "", 0, false, {}
// or [], or a mapping whose values all ask for nothing (an empty security
// section as DM's config export writes it).
func isEmpty(n ast.Node) bool {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return true
	case *ast.StringNode:
		return v.Value == ""
	case *ast.BoolNode:
		return !v.Value
	case *ast.IntegerNode:
		i, ok := intValue(v)
		return ok && i == 0
	case *ast.MappingNode:
		for _, mv := range v.Values {
			if !isEmpty(mv.Value) {
				return false
			}
		}
		return true
	case *ast.MappingValueNode:
		return isEmpty(v.Value)
	case *ast.SequenceNode:
		return len(v.Values) == 0
	}
	return false
}

// intValue returns the value of an integer node, clamped to int64 range.
func intValue(n ast.Node) (int64, bool) {
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		return 0, false
	}
	switch v := in.Value.(type) {
	case int64:
		return v, true
	case uint64:
		return int64(min(v, math.MaxInt64)), true
	}
	return 0, false
}

// yaml11Bool turns an unquoted YAML 1.1 boolean word (yes, no, on, off, ...),
// which DM's yaml.v2 decodes as a bool, into a bool node; nil otherwise.
func yaml11Bool(n ast.Node) ast.Node {
	s, ok := n.(*ast.StringNode)
	if !ok || s.Token == nil || s.Token.Type != token.StringType {
		return nil
	}
	var v bool
	switch strings.ToLower(s.Value) {
	case "y", "yes", "on":
		v = true
	case "n", "no", "off":
	default:
		return nil
	}
	return &ast.BoolNode{BaseNode: &ast.BaseNode{}, Token: s.Token, Value: v}
}

func keyString(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return k.String()
}

func renameKey(k ast.MapKeyNode, name string) {
	if s, ok := k.(*ast.StringNode); ok {
		s.Value = name
	}
}

func findKey(m *ast.MappingNode, key string) *ast.MappingValueNode {
	for _, mv := range m.Values {
		if !mv.Key.IsMergeKey() && keyString(mv.Key) == key {
			return mv
		}
	}
	return nil
}

// position is where a node starts: for a mapping, its first key.
func position(n ast.Node) *token.Position {
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if n == nil || n.GetToken() == nil {
		return nil
	}
	return n.GetToken().Position
}

// suggest returns " (did you mean KEY?)" for the known key closest to an
// unknown one, or "" when none is close.
func suggest(key string, fields map[string]*field) string {
	best, bestDist := "", 3 // at most two edits away
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if d := editDistance(key, name); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
