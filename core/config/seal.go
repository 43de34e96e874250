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
// block) sealed by seal, and everything else as written (keys, comments,
// order). The catalog stores the result, so no password reaches the Raft
// log in plaintext; Decode opens them again with the keys given to
// UseClusterKeys. It fails closed: a file whose secrets it cannot find
// for sure (text that does not parse, a connection written through a YAML
// alias or merge key, a password in a block scalar) is an error, and
// nothing is stored.
func SealPasswords(name, text string, seal func(string) (string, error)) (string, error) {
	f, err := parser.ParseBytes([]byte(text), parser.ParseComments)
	if err != nil {
		return "", fmt.Errorf("%s: seal passwords: the file does not parse", name)
	}
	changed := false
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		top, ok := unanchor(doc.Body).(*ast.MappingNode)
		if !ok {
			return "", fmt.Errorf("%s: seal passwords: the file is not a mapping", name)
		}
		for _, kv := range top.Values {
			if kv.Key.IsMergeKey() {
				return "", fmt.Errorf("%s: seal passwords: a merge key (<<) at the top level: write the file without it", name)
			}
			conn := keyName(kv.Key)
			if !passwordPaths[conn] {
				continue
			}
			secrets, err := connSecrets(kv.Value)
			if err != nil {
				return "", fmt.Errorf("%s: %s: %w", name, conn, err)
			}
			for _, s := range secrets {
				c, err := sealValue(s.field, seal)
				if err != nil {
					return "", fmt.Errorf("%s: %s.%s: %w", name, conn, s.path, err)
				}
				changed = changed || c
			}
		}
	}
	if !changed {
		return text, nil
	}
	return f.String(), nil
}

type secretField struct {
	path  string
	field *ast.MappingValueNode
}

// connSecrets returns the secret fields of a connection mapping: password,
// and security.ssl-key-base64 and ssl-key-bytes (an inline private key is
// as secret as a password).
func connSecrets(v ast.Node) ([]secretField, error) {
	if v == nil {
		return nil, nil
	}
	if _, null := v.(*ast.NullNode); null {
		return nil, nil
	}
	conn, ok := unanchor(v).(*ast.MappingNode)
	if !ok {
		return nil, errors.New("write the connection as a mapping (not through a YAML alias), so that its password can be stored sealed")
	}
	var out []secretField
	for _, field := range conn.Values {
		if field.Key.IsMergeKey() {
			return nil, errors.New("a merge key (<<) in a connection: write its keys out, so that its password can be stored sealed")
		}
		switch keyName(field.Key) {
		case "password":
			out = append(out, secretField{"password", field})
		case "security":
			if _, null := field.Value.(*ast.NullNode); null {
				continue
			}
			sec, ok := unanchor(field.Value).(*ast.MappingNode)
			if !ok {
				return nil, errors.New("security: write it as a mapping (not through a YAML alias)")
			}
			for _, f := range sec.Values {
				if f.Key.IsMergeKey() {
					return nil, errors.New("security: a merge key (<<): write its keys out")
				}
				if k := keyName(f.Key); k == "ssl-key-base64" || k == "ssl-key-bytes" {
					if _, list := f.Value.(*ast.SequenceNode); list {
						return nil, fmt.Errorf("security.%s: write an inline key as ssl-key-base64 or a string, so that it can be stored sealed", k)
					}
					out = append(out, secretField{"security." + k, f})
				}
			}
		}
	}
	return out, nil
}

// unanchor returns the node an anchor (&name) marks.
func unanchor(n ast.Node) ast.Node {
	if a, ok := n.(*ast.AnchorNode); ok {
		return a.Value
	}
	return n
}

// keyName is a mapping key's text, without quotes.
func keyName(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	return k.String()
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
		return false, errors.New("cannot seal it: write it as one plain or quoted scalar (no block, alias, anchor or tag)")
	}
}
