package node

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
)

// The OpenAPI 3 document of the HTTP API is built from the route table
// (httpapi.go) and the Go types the handlers decode and answer, with
// kin-openapi (github.com/getkin/kin-openapi): its openapi3gen derives the
// schemas from the types by reflection, so the document cannot drift from
// the handlers, and openapi3 validates the result. kin-openapi is the
// long-maintained Go OpenAPI 3 library that oapi-codegen itself builds on;
// it needs no code generation step and no framework around net/http,
// which keeps the control API's one handler map the only service layer.

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// customizeSchema makes the reflected schemas say what encoding/json
// writes: a nil slice or map is null, a type with its own MarshalJSON may
// be anything, one with MarshalText is a string.
func customizeSchema(_ string, t reflect.Type, _ reflect.StructTag, schema *openapi3.Schema) error {
	switch {
	case t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler):
		if t != reflect.TypeFor[time.Time]() {
			*schema = openapi3.Schema{Nullable: true}
		}
	case t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		*schema = *openapi3.NewStringSchema()
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Map:
		schema.Nullable = true
	}
	return nil
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// openAPIDocument builds and validates the document of routes, as JSON.
func openAPIDocument(routes []apiRoute) ([]byte, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{
			Title:   "dmnode HTTP API",
			Version: "v1",
			Description: "dmnode's control API over HTTP (/api/v1/dmnode/...: the CLI's methods), " +
				"TiDB DM's OpenAPI v1 paths for sources and tasks (/api/v1/sources, /api/v1/tasks), " +
				"and the web console's reads. Errors answer {error, error_msg, error_code}.",
		},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{Schemas: openapi3.Schemas{}},
	}
	// Each type of body, answer and error is one component schema that
	// the routes refer to: inline, the native routes' shared Response (in
	// every error answer too) made the document 17 MB. Inside a component
	// the nested types stay inline: openapi3gen's own component export
	// loses nested types shared between values (v0.153.0).
	names := map[reflect.Type]string{}
	schemaOf := func(v any) (*openapi3.SchemaRef, error) {
		t := reflect.TypeOf(v)
		name, ok := names[t]
		if !ok {
			ref, err := openapi3gen.NewSchemaRefForValue(v, nil, openapi3gen.SchemaCustomizer(customizeSchema))
			if err != nil {
				return nil, err
			}
			name = componentName(t, doc.Components.Schemas)
			names[t] = name
			doc.Components.Schemas[name] = ref
		}
		return &openapi3.SchemaRef{Ref: "#/components/schemas/" + name, Value: doc.Components.Schemas[name].Value}, nil
	}
	errRef, err := schemaOf(apiError{})
	if err != nil {
		return nil, err
	}
	for _, rt := range routes {
		op := openapi3.NewOperation()
		op.Summary, op.Tags = rt.Summary, []string{rt.Tag}
		op.OperationID = operationID(rt)
		for _, p := range pathParams(rt.Path) {
			op.AddParameter(openapi3.NewPathParameter(p).WithSchema(openapi3.NewStringSchema()))
		}
		for _, q := range rt.Query {
			op.AddParameter(openapi3.NewQueryParameter(q).WithSchema(openapi3.NewStringSchema()))
		}
		if rt.Body != nil {
			ref, err := schemaOf(rt.Body)
			if err != nil {
				return nil, fmt.Errorf("%s %s: request body: %w", rt.Method, rt.Path, err)
			}
			content := openapi3.NewContentWithJSONSchemaRef(ref)
			if rt.BodyText {
				content["application/yaml"] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
			}
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithContent(content)}
		}
		ok := openapi3.NewResponse().WithDescription(http.StatusText(rt.Status))
		if rt.Resp != nil {
			ref, err := schemaOf(rt.Resp)
			if err != nil {
				return nil, fmt.Errorf("%s %s: response: %w", rt.Method, rt.Path, err)
			}
			ok = ok.WithJSONSchemaRef(ref)
		}
		op.Responses = openapi3.NewResponses()
		op.Responses.Set(strconv.Itoa(rt.Status), &openapi3.ResponseRef{Value: ok})
		for _, code := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusServiceUnavailable} {
			op.Responses.Set(strconv.Itoa(code), &openapi3.ResponseRef{Value: openapi3.NewResponse().
				WithDescription(http.StatusText(code)).WithJSONSchemaRef(errRef)})
		}
		doc.AddOperation(rt.Path, rt.Method, op)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	return json.MarshalIndent(doc, "", "  ")
}

// componentName names the schema of t in the document's components: its
// Go name as an identifier ("node.Response" is node_Response), numbered
// when two types give the same name.
func componentName(t reflect.Type, taken openapi3.Schemas) string {
	base := strings.Trim(nonIdent.ReplaceAllString(t.String(), "_"), "_")
	if base == "" {
		base = "value"
	}
	name := base
	for i := 2; taken[name] != nil; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	return name
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func pathParams(path string) []string {
	var out []string
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}

// operationID is the route's method and path as one identifier.
func operationID(rt apiRoute) string {
	return strings.ToLower(rt.Method) + "_" + strings.Trim(nonIdent.ReplaceAllString(strings.TrimPrefix(rt.Path, "/api/v1/"), "_"), "_")
}
