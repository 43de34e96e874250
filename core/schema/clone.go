package schema

import (
	"reflect"
	"sync"
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
	c := cloner{seen: make(map[ptrKey]reflect.Value, 16)}
	return c.copyOf(reflect.ValueOf(n)).Interface().(ast.StmtNode)
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
func shared(t reflect.Type) bool { return info(t).shared }

// typeInfo is what the cloner needs to know of a type, computed once.
type typeInfo struct {
	shared   bool  // kept, not copied
	needsFix bool  // a shallow copy shares something a deep copy must not
	fields   []int // of a struct: the fields that need fixing
}

var typeInfos sync.Map // reflect.Type -> *typeInfo

func info(t reflect.Type) *typeInfo {
	if i, ok := typeInfos.Load(t); ok {
		return i.(*typeInfo)
	}
	in := &typeInfo{}
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		in.shared = true
	case reflect.Pointer:
		in.shared = t.Elem().PkgPath() == charsetPkg
	default:
		in.shared = t.PkgPath() == charsetPkg
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		in.needsFix = !in.shared
	case reflect.Array:
		in.needsFix = info(t.Elem()).needsFix
	case reflect.Struct:
		// Fields are looked at by value: a struct cannot hold itself
		// but through a pointer, which needs fixing without a look.
		for i := range t.NumField() {
			if info(t.Field(i).Type).needsFix {
				in.fields = append(in.fields, i)
			}
		}
		in.needsFix = len(in.fields) > 0
	}
	typeInfos.Store(t, in)
	return in
}

// needsFix reports whether a shallow copy of a value of type t shares
// something a deep copy must not: a pointer, slice, map or interface,
// directly or in a struct or array field. Strings are shared: they are
// never changed.
func needsFix(t reflect.Type) bool { return info(t).needsFix }

// fix replaces, in dst (addressable, a shallow copy), everything shared
// with its source by a deep copy.
func (c *cloner) fix(dst reflect.Value) {
	t := dst.Type()
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		if !shared(t) {
			dst.Set(c.copyOf(dst))
		}
	case reflect.Array:
		if needsFix(t.Elem()) {
			for i := range dst.Len() {
				c.fix(dst.Index(i))
			}
		}
	case reflect.Struct:
		for _, i := range info(t).fields {
			f := dst.Field(i)
			// A settable view of the field, exported or not.
			c.fix(reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem())
		}
	}
}

// copyOf returns a deep copy of v, a pointer, interface, slice or map.
// For an interface it returns the copy of the value inside, which the
// caller stores back into an interface.
func (c *cloner) copyOf(v reflect.Value) reflect.Value {
	if v.IsNil() {
		return v
	}
	t := v.Type()
	switch t.Kind() {
	case reflect.Pointer:
		if shared(t) {
			return v
		}
		k := ptrKey{v.Pointer(), t}
		if p, ok := c.seen[k]; ok {
			return p
		}
		p := reflect.New(t.Elem())
		c.seen[k] = p
		p.Elem().Set(v.Elem())
		c.fix(p.Elem())
		return p
	case reflect.Interface:
		in := v.Elem()
		it := in.Type()
		switch {
		case shared(it) || !needsFix(it):
			return v
		case it.Kind() == reflect.Pointer || it.Kind() == reflect.Slice || it.Kind() == reflect.Map:
			return c.copyOf(in)
		}
		tmp := reflect.New(it).Elem()
		tmp.Set(in)
		c.fix(tmp)
		return tmp
	case reflect.Slice:
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		reflect.Copy(out, v)
		if needsFix(t.Elem()) {
			for i := range out.Len() {
				c.fix(out.Index(i))
			}
		}
		return out
	case reflect.Map:
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			k := reflect.New(t.Key()).Elem()
			k.Set(it.Key())
			c.fix(k)
			e := reflect.New(t.Elem()).Elem()
			e.Set(it.Value())
			c.fix(e)
			out.SetMapIndex(k, e)
		}
		return out
	}
	return v
}
