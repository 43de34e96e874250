package exprfilter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// JSON_EXTRACT(doc, path[, path...]) and the -> and ->> operators, which
// the parser turns into JSON_EXTRACT and JSON_UNQUOTE(JSON_EXTRACT(...)).
//
// A JSON column arrives as its text. The value found at a path becomes a
// SQL value: a number an integer or a double, a string its unquoted text
// (as MySQL compares a JSON string with a SQL string), true and false 1
// and 0, an object or an array its JSON text; JSON null and a path that
// finds nothing are NULL. Paths are MySQL's without wildcards: $, .key,
// ."quoted key" and [index]. With several paths the result is the JSON
// array of what they find, as in MySQL.

func jsonExtractFn(a []val) (val, error) {
	if a[0].k == kNull {
		return val{}, nil
	}
	doc, err := decodeJSON(a[0].text())
	if err != nil {
		return val{}, fmt.Errorf("function JSON_EXTRACT: invalid JSON document: %w", err)
	}
	var found []any
	for _, p := range a[1:] {
		if p.k == kNull {
			return val{}, nil
		}
		steps, err := parseJSONPath(p.text())
		if err != nil {
			return val{}, fmt.Errorf("function JSON_EXTRACT: %w", err)
		}
		if v, ok := walkJSON(doc, steps); ok {
			found = append(found, v)
		}
	}
	switch {
	case len(found) == 0:
		return val{}, nil
	case len(a) == 2:
		return jsonValue(found[0])
	}
	return jsonValue(found)
}

// jsonUnquoteFn is JSON_UNQUOTE: a JSON string's text; any other value as
// it is (the values of JSON_EXTRACT are unquoted already).
func jsonUnquoteFn(a []val) (val, error) {
	v := a[0]
	if v.k != kStr && v.k != kBin {
		return v, nil
	}
	s := v.text()
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var out string
		if err := json.Unmarshal([]byte(s), &out); err == nil {
			return strVal(out), nil
		}
	}
	return v, nil
}

func decodeJSON(text string) (any, error) {
	d := json.NewDecoder(strings.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// jsonValue turns a decoded JSON value into a SQL value.
func jsonValue(v any) (val, error) {
	switch x := v.(type) {
	case nil:
		return val{}, nil
	case bool:
		return boolVal(x), nil
	case string:
		return strVal(x), nil
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return intVal(i), nil
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return val{}, fmt.Errorf("JSON number %s: %w", x, err)
		}
		return floatVal(f), nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return val{}, err
	}
	return strVal(strings.TrimSuffix(b.String(), "\n")), nil
}

// jsonStep is one step of a path: a member name or an array index.
type jsonStep struct {
	key   string
	index int // -1 for a member
}

func parseJSONPath(p string) ([]jsonStep, error) {
	s := strings.TrimSpace(p)
	if !strings.HasPrefix(s, "$") {
		return nil, fmt.Errorf("invalid JSON path %q: must start with $", p)
	}
	s = s[1:]
	var steps []jsonStep
	for len(s) > 0 {
		switch s[0] {
		case '.':
			s = s[1:]
			if strings.HasPrefix(s, `"`) {
				end := strings.IndexByte(s[1:], '"')
				if end < 0 {
					return nil, fmt.Errorf("invalid JSON path %q: unterminated quoted key", p)
				}
				steps = append(steps, jsonStep{key: s[1 : 1+end], index: -1})
				s = s[end+2:]
				continue
			}
			n := strings.IndexAny(s, ".[")
			if n < 0 {
				n = len(s)
			}
			if n == 0 || strings.ContainsAny(s[:n], "*") {
				return nil, fmt.Errorf("invalid JSON path %q: wildcards and empty keys are not supported", p)
			}
			steps = append(steps, jsonStep{key: s[:n], index: -1})
			s = s[n:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("invalid JSON path %q: unterminated [", p)
			}
			i, err := strconv.Atoi(strings.TrimSpace(s[1:end]))
			if err != nil || i < 0 {
				return nil, fmt.Errorf("invalid JSON path %q: an index must be a non-negative integer", p)
			}
			steps = append(steps, jsonStep{index: i})
			s = s[end+1:]
		default:
			return nil, fmt.Errorf("invalid JSON path %q", p)
		}
	}
	return steps, nil
}

func walkJSON(v any, steps []jsonStep) (any, bool) {
	for _, st := range steps {
		if st.index >= 0 {
			arr, ok := v.([]any)
			if !ok {
				// MySQL reads a scalar as an array of one at [0].
				if st.index == 0 {
					continue
				}
				return nil, false
			}
			if st.index >= len(arr) {
				return nil, false
			}
			v = arr[st.index]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[st.key]; !ok {
			return nil, false
		}
	}
	return v, true
}
