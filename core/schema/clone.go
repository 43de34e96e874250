package schema

import (
	"reflect"
	"unsafe"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/charset"
)

// CloneNode returns a deep copy of a parsed statement: changing one (the
// tracker applying it, a route renaming its tables, a TiDB adaptation
// dropping its FULLTEXT indexes) leaves the other as the parser made it.
// It stands in for parsing the text again, which the tidb parser's AST
// offers no other way to avoid: it has no Clone of its own.
//
// Everything reachable from n is copied, unexported fields included,
// except what is shared and never changed: the parser's charset encodings
// (package-level tables), functions and channels.
func CloneNode(n ast.StmtNode) ast.StmtNode {
	if n == nil {
		return nil
	}
	c := cloner{seen: map[ptrKey]reflect.Value{}}
	return c.value(reflect.ValueOf(n)).Interface().(ast.StmtNode)
}

type ptrKey struct {
	p uintptr
	t reflect.Type
}

// cloner copies values deeply; seen keeps pointers copied once, so that
// shared nodes stay shared and cycles end.
type cloner struct {
	seen map[ptrKey]reflect.Value
}

// charsetPkg holds the parser's encodings, shared by every node.
var charsetPkg = reflect.TypeFor[charset.Charset]().PkgPath()

// shared reports whether values of type t are kept, not copied.
func shared(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return true
	case reflect.Pointer:
		return t.Elem().PkgPath() == charsetPkg
	}
	return t.PkgPath() == charsetPkg
}

// hasRefs reports whether a value of type t may hold something to copy.
func hasRefs(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map, reflect.Struct, reflect.Array:
		return true
	}
	return false
}

// value returns a deep copy of v. v must not carry the read-only flag of
// a value reached through an unexported field (struct fields are read
// through unsafe for that reason).
func (c *cloner) value(v reflect.Value) reflect.Value {
	t := v.Type()
	if shared(t) {
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		k := ptrKey{v.Pointer(), t}
		if p, ok := c.seen[k]; ok {
			return p
		}
		p := reflect.New(t.Elem())
		c.seen[k] = p
		p.Elem().Set(c.value(v.Elem()))
		return p
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(t).Elem()
		out.Set(c.value(v.Elem()))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		if !hasRefs(t.Elem()) {
			reflect.Copy(out, v)
			return out
		}
		for i := range v.Len() {
			out.Index(i).Set(c.value(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(c.value(it.Key()), c.value(it.Value()))
		}
		return out
	case reflect.Array:
		out := reflect.New(t).Elem()
		out.Set(v)
		if hasRefs(t.Elem()) {
			for i := range v.Len() {
				out.Index(i).Set(c.value(v.Index(i)))
			}
		}
		return out
	case reflect.Struct:
		out := reflect.New(t).Elem()
		out.Set(v)
		for i := range t.NumField() {
			f := out.Field(i)
			if !hasRefs(f.Type()) {
				continue
			}
			// A settable view of the field, exported or not.
			fa := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
			fa.Set(c.value(fa))
		}
		return out
	}
	return v
}
