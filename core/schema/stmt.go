package schema

import (
	"errors"
	"slices"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"

	"github.com/dmnode/dmnode"
)

// Stmt is the text of one QUERY event read by the parser once, as the
// tracker reads it: split into statements, each classified and, when it is
// DDL on data, parsed. Every reading of the text a stage needs (what it is,
// what it does to partitions, the tracked schemas after it, its routed
// form) is taken from a Stmt, so that a statement is parsed once where it
// is met: the tailer parses each DDL once, and so does an applier for a
// DDL it must rewrite.
//
// The statements are shared by the readings: those that change them (the
// tracker applying them, a route) work on a copy (Clone, ForTracker),
// except Tracker.ApplyStmt, which takes the Stmt for itself. A Stmt is not safe
// for concurrent use.
type Stmt struct {
	DB   string // the default database the text ran with
	Text string // the text as given

	pieces []piece
	err    error // the parse error that ended the reading, wrapping ErrSyntax
	taken  bool  // given to Tracker.ApplyStmt, which changed the statements
}

// piece is one statement of the text.
type piece struct {
	classified
	nodes []ast.StmtNode // what the parser read, for a piece of classParse
}

// ParseDDL reads text, executed with default database currentDB, with
// one parse of each of its statements. A statement the parser rejects
// ends the reading; Err returns the error, which the readings report
// where Tracker.Apply would.
func ParseDDL(currentDB, text string) *Stmt {
	s := &Stmt{DB: currentDB, Text: text}
	for _, st := range splitStatements(text) {
		p := piece{classified: st}
		if st.class == classParse {
			nodes, err := parseStatement(st.text)
			if err != nil {
				s.err = err
				s.pieces = append(s.pieces, p)
				break
			}
			p.nodes = nodes
		}
		s.pieces = append(s.pieces, p)
	}
	return s
}

// Err returns the parse error that ended the reading, nil when every
// statement was read.
func (s *Stmt) Err() error { return s.err }

// Nodes returns the parsed statements, in order, as core/schema.Parse
// returns them for the text (Parse's error is Err). Callers must not
// change them. It panics once Tracker.ApplyStmt has taken s.
func (s *Stmt) Nodes() []ast.StmtNode {
	s.check()
	var out []ast.StmtNode
	for _, p := range s.pieces {
		out = append(out, p.nodes...)
	}
	return out
}

func (s *Stmt) check() {
	if s.taken {
		panic("schema: Stmt read after Tracker.ApplyStmt took it")
	}
}

// Clone returns a copy of s whose statements can be changed without
// changing s's.
func (s *Stmt) Clone() *Stmt {
	s.check()
	c := *s
	c.pieces = make([]piece, len(s.pieces))
	for i, p := range s.pieces {
		c.pieces[i] = piece{classified: p.classified}
		for _, n := range p.nodes {
			c.pieces[i].nodes = append(c.pieces[i].nodes, CloneNode(n))
		}
	}
	return &c
}

// copyChanged returns a copy of s whose statements for which changed
// reports true are copies, the others shared with s.
func (s *Stmt) copyChanged(changed func(ast.StmtNode) bool) *Stmt {
	s.check()
	c := *s
	c.pieces = make([]piece, len(s.pieces))
	for i, p := range s.pieces {
		c.pieces[i] = p
		c.pieces[i].nodes = slices.Clone(p.nodes)
		for j, n := range p.nodes {
			if changed(n) {
				c.pieces[i].nodes[j] = CloneNode(n)
			}
		}
	}
	return &c
}

// ForTracker returns a Stmt a tracker may take (Tracker.ApplyStmt)
// without changing s. Only the statements a tracker changes are copied:
// CREATE TABLE, ALTER TABLE and CREATE INDEX, whose parts become the
// tracked table's; the others are read and shared.
func (s *Stmt) ForTracker() *Stmt {
	return s.copyChanged(func(n ast.StmtNode) bool {
		switch n.(type) {
		case *ast.CreateTableStmt, *ast.AlterTableStmt, *ast.CreateIndexStmt:
			return true
		}
		return false
	})
}

// single returns the statement of a text that is one statement, parsed
// from the text as it is (not rewritten: no OR REPLACE or ALTER ONLINE
// removed), so that it is what parsing the whole text gives; nil for any
// other text.
func (s *Stmt) single() ast.StmtNode {
	s.check()
	if s.err != nil || len(s.pieces) != 1 {
		return nil
	}
	p := s.pieces[0]
	if p.class != classParse || p.orReplace || len(p.nodes) != 1 {
		return nil
	}
	whole := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s.Text), ";"))
	if strings.TrimSpace(p.text) != whole {
		return nil
	}
	return p.nodes[0]
}

// ApplyStmt is Apply for a parsed text. It changes the statements of s,
// which is then spent: read s (Nodes, Describe, Info, RouteStmt) before,
// or apply a Clone.
func (t *Tracker) ApplyStmt(s *Stmt) (DDL, error) {
	ddls, err := t.applyStmt(s)
	if len(ddls) == 1 {
		return ddls[0], err
	}
	return merge(ddls, s.Text), err
}

// applyStmt is ApplyAll for a parsed text.
func (t *Tracker) applyStmt(s *Stmt) ([]DDL, error) {
	s.check()
	s.taken = true
	var ddls []DDL
	var errs []error
	for i, p := range s.pieces {
		var d DDL
		var err error
		if i == len(s.pieces)-1 && s.err != nil {
			d, err = DDL{Kind: Skip, SQL: p.text}, s.err
		} else {
			d, err = t.applyPiece(s.DB, p)
		}
		ddls = append(ddls, d)
		if err != nil {
			errs = append(errs, err)
			if !errors.Is(err, ErrUnknownTable) {
				break
			}
		}
	}
	return ddls, errors.Join(errs...)
}

func (t *Tracker) applyPiece(currentDB string, p piece) (DDL, error) {
	if p.class != classParse || len(p.nodes) != 1 {
		return DDL{Kind: Skip, SQL: p.text}, nil // not DDL on data, or only comments
	}
	d, err := t.dispatch(currentDB, p.nodes[0], p.orReplace)
	d.SQL = p.text
	return d, err
}

// Describe is the package's Describe for a parsed text, with no parse of
// its own: the kind and tables as a tracker that knows no table reads
// them, and, for an ALTER TABLE, what it does to partitions.
func (s *Stmt) Describe() (DDL, Partitioning, error) {
	// A tracker that knows no table changes a CREATE TABLE only: an
	// ALTER or CREATE INDEX stops at its unknown table.
	d, err := NewTracker().ApplyStmt(s.copyChanged(func(n ast.StmtNode) bool {
		_, ok := n.(*ast.CreateTableStmt)
		return ok
	}))
	var p Partitioning
	if d.Kind == AlterTable {
		if n := s.single(); n != nil {
			p = partitioningOf(s.DB, []ast.StmtNode{n})
		} else {
			// A text of several statements, or one rewritten to be
			// read: PartitioningOf reads the whole text as it is.
			p = PartitioningOf(s.DB, s.Text)
		}
	}
	return d, p, err
}

// Info is the package's Info for a parsed text: Describe's answer in its
// relayed form, nil when the text could not be read.
func (s *Stmt) Info() *dmnode.DDLInfo {
	d, p, err := s.Describe()
	return infoOf(d, p, err)
}

// RouteStmt is RouteDDL for a parsed text: the routed text, and the
// routed statement it was printed from (nil when the text was read again
// to route it: a text of several statements, or one rewritten to be
// read, which RouteDDL refuses or reads on its own). s is not changed;
// the routed statement is the caller's.
func RouteStmt(s *Stmt, route RouteFunc) (string, ast.StmtNode, error) {
	n := s.single()
	if n == nil {
		text, err := RouteDDL(s.DB, s.Text, route)
		return text, nil, err
	}
	n = CloneNode(n)
	text, err := routeNode(s.DB, s.Text, n, route)
	if err != nil {
		return "", nil, err
	}
	return text, n, nil
}
