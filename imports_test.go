package dmnode

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/dmnode/dmnode"

// The layering of the packages, checked on the imports of every non-test
// file (tests may reach further, e.g. a core benchmark reading the stream
// codec):
//
//	dmnode (root)   imports nothing of the module
//	core/...        the root and core only: pure logic, no NATS, no node
//	jetstream       the root and core only
//	jetstream/...   the root, core and jetstream; no NATS (memstore is the
//	                in-memory stand-in for it)
//	actors/...      not node or cli; no NATS: the relay, snapshot queue,
//	                checkpoint and schema stores are interfaces of package
//	                jetstream (actors/env_test.go checks actors.Env too)
func TestImportRules(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		path = filepath.ToSlash(path)
		dir := filepath.ToSlash(filepath.Dir(path))
		for _, spec := range f.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if msg := importRule(path, dir, imp); msg != "" {
				t.Errorf("%s imports %s: %s", path, imp, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func within(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// importRule returns why file (in dir) may not import imp, or "".
func importRule(file, dir, imp string) string {
	local, inModule := strings.CutPrefix(imp, module+"/")
	isNATS := strings.HasPrefix(imp, "github.com/nats-io/")
	switch {
	case dir == ".":
		if inModule {
			return "the root package is the shared vocabulary and imports nothing of the module"
		}
	case within(dir, "core"), dir == "jetstream":
		if inModule && !within(local, "core") {
			return dir + " may import only the root package and core"
		}
		if isNATS && dir != "jetstream" {
			return "core is pure: no NATS"
		}
	case within(dir, "jetstream"):
		if inModule && !within(local, "core") && local != "jetstream" {
			return dir + " may import only the root package, core and jetstream"
		}
		if isNATS {
			return "only package jetstream itself knows NATS"
		}
	case within(dir, "actors"):
		if inModule && (within(local, "node") || within(local, "cli") || within(local, "cmd")) {
			return "actors do not know the node that hosts them"
		}
		if isNATS {
			return "an actor reaches NATS through the interfaces of package jetstream"
		}
	}
	return ""
}

func TestImportRuleCases(t *testing.T) {
	for _, c := range []struct {
		file, imp string
		ok        bool
	}{
		{"core/catalog/x.go", module, true},
		{"core/catalog/x.go", module + "/core/sqlgen", true},
		{"core/catalog/x.go", module + "/jetstream", false},
		{"core/rules/x.go", module + "/node", false},
		{"core/rules/x.go", "github.com/nats-io/nats.go", false},
		{"jetstream/x.go", "github.com/nats-io/nats.go/jetstream", true},
		{"jetstream/x.go", module + "/actors", false},
		{"actors/tail.go", "github.com/nats-io/nats.go", false},
		{"actors/load.go", "github.com/nats-io/nats.go/jetstream", false},
		{"jetstream/memstore/x.go", module + "/jetstream", true},
		{"jetstream/memstore/x.go", "github.com/nats-io/nats.go", false},
		{"jetstream/storetest/x.go", module + "/actors", false},
		{"actors/verify/x.go", module + "/node", false},
		{"actors/x.go", module + "/jetstream", true},
		{"position.go", module + "/core/catalog", false},
		{"node/x.go", module + "/actors", true},
	} {
		got := importRule(c.file, filepath.ToSlash(filepath.Dir(c.file)), c.imp) == ""
		if got != c.ok {
			t.Errorf("%s importing %s allowed: %v, want %v", c.file, c.imp, got, c.ok)
		}
	}
}
