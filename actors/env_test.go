package actors

import (
	"reflect"
	"strings"
	"testing"
)

// An actor sees NATS through nothing it is given: no type reachable from
// the fields of Env (through struct fields, pointers, slices, maps,
// channels, function and method signatures) is a type of nats.go. The
// import rule (imports_test.go) keeps the actors' files from importing it.
func TestEnvHasNoNATSTypes(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(ty reflect.Type, path string)
	walk = func(ty reflect.Type, path string) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		if strings.HasPrefix(ty.PkgPath(), "github.com/nats-io/") {
			t.Errorf("%s is %s, a NATS type", path, ty)
			return
		}
		switch ty.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Chan:
			walk(ty.Elem(), path)
		case reflect.Map:
			walk(ty.Key(), path)
			walk(ty.Elem(), path)
		case reflect.Struct:
			for i := range ty.NumField() {
				walk(ty.Field(i).Type, path+"."+ty.Field(i).Name)
			}
		case reflect.Func:
			for i := range ty.NumIn() {
				walk(ty.In(i), path+"(in)")
			}
			for i := range ty.NumOut() {
				walk(ty.Out(i), path+"(out)")
			}
		}
		if ty.Kind() == reflect.Interface || ty.Kind() == reflect.Struct || ty.Kind() == reflect.Pointer {
			for i := range ty.NumMethod() {
				m := ty.Method(i)
				walk(m.Type, path+"."+m.Name)
			}
		}
	}
	walk(reflect.TypeFor[Env](), "Env")
	store, _ := reflect.TypeFor[Env]().FieldByName("Store")
	if !seen[store.Type] || len(seen) < 20 {
		t.Fatalf("the walk saw %d types; it should reach through Env.Store's methods", len(seen))
	}
}
