package config

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// LoadTask reads and decodes a task file; path "-" reads standard input.
// See DecodeTask.
func LoadTask(path string) (*Task, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read task file: %w", err)
	}
	return DecodeTask(path, data)
}

// DecodeTask decodes and validates a TiDB DM task file; file names it in
// messages ("-" for standard input). On success the effective unit settings
// of every instance are filled in and Warnings lists the keys that have no
// effect. Otherwise the error joins every finding, each an *Error.
func DecodeTask(file string, data []byte) (*Task, error) {
	r := newReport(file)
	t := &Task{}
	if decodeFile(r, data, taskSpec, t) {
		checkTask(r, t)
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	t.File = file
	t.Warnings = r.warnings()
	t.Notes = r.notesText()
	return t, nil
}

// LoadSource reads and decodes a source file; path "-" reads standard
// input. See DecodeSource.
func LoadSource(path string) (*Source, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read source file: %w", err)
	}
	return DecodeSource(path, data)
}

// DecodeSource decodes and validates a TiDB DM source file; file names it
// in messages ("-" for standard input). Otherwise as DecodeTask.
func DecodeSource(file string, data []byte) (*Source, error) {
	r := newReport(file)
	s := &Source{}
	if decodeFile(r, data, sourceSpec, s) {
		checkSource(r, s)
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	s.File = file
	s.Warnings = r.warnings()
	s.Notes = r.notesText()
	return s, nil
}

func readFile(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// decodeFile parses data, checks it against s and decodes it into v. It
// reports whether v can be validated further: false after a syntax error or
// when the document is not a mapping. An empty document decodes as v's zero
// value.
func decodeFile(r *report, data []byte, s *spec, v any) bool {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		r.yamlError(err)
		return false
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			r.syntax("only one YAML document is allowed", position(doc.Body))
			return false
		}
		body = doc.Body
	}
	if body == nil {
		return true
	}
	if _, ok := newWalker(r).walk(body, s, "", ""); !ok {
		return false
	}
	// The walker removed every key the Go types do not have, so the strict
	// decode only fails on a mismatch between spec and types.
	if err := yaml.NodeToValue(body, v, yaml.Strict()); err != nil {
		r.yamlError(err)
		return false
	}
	return true
}

// yamlError records an error of the YAML parser or decoder, with its
// position but without the source excerpt, which could show a password.
func (r *report) yamlError(err error) {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		r.syntax(err.Error(), nil)
		return
	}
	var pos *token.Position
	if tk := ye.GetToken(); tk != nil {
		pos = tk.Position
	}
	r.syntax(ye.GetMessage(), pos)
}
