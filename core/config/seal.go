package config

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/dmnode/dmnode/core/secret"
)

// clusterRing holds the cluster keys that open sealed passwords in this
// process (a node adds its keys at start; nil elsewhere).
var clusterRing atomic.Pointer[secret.Ring]

var clusterRingMu sync.Mutex

// UseClusterKeys makes Decode open passwords sealed with r's keys, besides
// the keys given before (a process may run more than one node).
func UseClusterKeys(r *secret.Ring) {
	clusterRingMu.Lock()
	defer clusterRingMu.Unlock()
	all := &secret.Ring{}
	if old := clusterRing.Load(); old != nil {
		all.Keys = append(all.Keys, old.Keys...)
	}
	all.Merge(r)
	clusterRing.Store(all)
}

// passwordPaths are the mappings whose password key holds a connection's
// password: a source's from and a task's target-database.
var passwordPaths = map[string]bool{"from": true, "target-database": true}

// SealPasswords returns the text of a task or source file with the
// password of every connection (and an inline private key of its security
// block) sealed by seal, and everything else as
// written (keys, comments, order). The catalog stores the result, so no
// password reaches the Raft log in plaintext; Decode opens them again with
// the keys given to UseClusterKeys. Text that does not parse is returned
// unchanged: Decode reports its errors, and nothing is stored.
func SealPasswords(name, text string, seal func(string) (string, error)) (string, error) {
	f, err := parser.ParseBytes([]byte(text), parser.ParseComments)
	if err != nil {
		return text, nil
	}
	changed := false
	for _, doc := range f.Docs {
		top, ok := doc.Body.(*ast.MappingNode)
		if !ok {
			continue
		}
		for _, kv := range top.Values {
			if !passwordPaths[kv.Key.String()] {
				continue
			}
			conn, ok := kv.Value.(*ast.MappingNode)
			if !ok {
				continue
			}
			for _, field := range conn.Values {
				fields := []*ast.MappingValueNode{field}
				switch field.Key.String() {
				case "password":
				case "security":
					// An inline private key is as secret as a password.
					fields = nil
					if sec, ok := field.Value.(*ast.MappingNode); ok {
						for _, f := range sec.Values {
							if k := f.Key.String(); k == "ssl-key-base64" || k == "ssl-key-bytes" {
								fields = append(fields, f)
							}
						}
					}
				default:
					continue
				}
				for _, f := range fields {
					if _, list := f.Value.(*ast.SequenceNode); list {
						return "", fmt.Errorf("%s: %s.security.%s: write an inline key as ssl-key-base64 or a string, so that it can be stored sealed", name, kv.Key.String(), f.Key.String())
					}
					c, err := sealValue(f, seal)
					if err != nil {
						return "", fmt.Errorf("%s: %s.%s: %w", name, kv.Key.String(), f.Key.String(), err)
					}
					changed = changed || c
				}
			}
		}
	}
	if !changed {
		return text, nil
	}
	return f.String(), nil
}

func sealValue(field *ast.MappingValueNode, seal func(string) (string, error)) (bool, error) {
	switch v := field.Value.(type) {
	case *ast.NullNode:
		return false, nil
	case *ast.StringNode:
		if v.Value == "" || secret.IsSealed(v.Value) {
			return false, nil
		}
		sealed, err := seal(v.Value)
		if err != nil {
			return false, err
		}
		v.Value, v.Token.Value = sealed, sealed
		return true, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		// A password such as 123456 reads as a number; it is the text
		// as written that DM uses.
		sealed, err := seal(v.GetToken().Value)
		if err != nil {
			return false, err
		}
		pos := *v.GetToken().Position
		field.Value = ast.String(token.New(sealed, sealed, &pos))
		return true, nil
	default:
		return false, errors.New("cannot seal a password written as a block, alias or collection: write it as one quoted line")
	}
}
