package nbi

import (
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/twinflow/twinflow/twin"
)

// HandlerFunc handles a request; a returned error becomes a problem+json response
// (see Error). Handlers that wrote a response return nil.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Param documents a query or header parameter. Path parameters are derived from the
// route pattern.
type Param struct {
	Name        string
	In          string // "query" or "header"
	Description string
	// Type is the JSON schema type: "string" (default), "integer", "boolean".
	Type     string
	Required bool
}

// Route is one endpoint: what chi routes and what the OpenAPI document describes.
type Route struct {
	Method  string // http.MethodGet, ...
	Pattern string // chi pattern, e.g. "/api/v1/twins/{twin}/devices/{id}"
	Summary string
	Tags    []string
	Params  []Param
	// Request is a value of the JSON request body's type (nil: no body).
	Request any
	// Response is a value of the JSON success body's type (nil: no body).
	Response any
	// Status is the success status (default 200).
	Status int
	// ContentType of the success body when not application/json (e.g. text/event-stream).
	ContentType string
	// Errors lists the documented error statuses (each a problem+json body).
	Errors  []int
	Handler HandlerFunc
	// Access is the route's permission decision; nil takes it from accessTable
	// (access.go). A route with neither is refused by New.
	Access *Access
}

// RouteGroup returns routes served by a Server. New lists the groups of this package
// (see doc.go); Options.Routes adds more.
type RouteGroup func(s *Server) []Route

var pathParamRE = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// pathParams lists the parameter names of a chi pattern.
func pathParams(pattern string) []string {
	var out []string
	for _, m := range pathParamRE.FindAllStringSubmatch(pattern, -1) {
		out = append(out, m[1])
	}
	return out
}

// openAPIPath turns a chi pattern into an OpenAPI path ("{id:[0-9]+}" → "{id}").
func openAPIPath(pattern string) string {
	return pathParamRE.ReplaceAllString(pattern, "{$1}")
}

// openAPI builds the OpenAPI 3 document for routes.
func openAPI(routes []Route, version string) map[string]any {
	schemas := newSchemaSet()
	// Stored records get the plain names ("Device"); the model types they embed, where
	// used alone (in Network), get qualified ones ("NetworkDevice").
	for _, t := range []reflect.Type{reflect.TypeFor[twin.Context](), reflect.TypeFor[twin.Topology](),
		reflect.TypeFor[twin.Device](), reflect.TypeFor[twin.Link](), reflect.TypeFor[twin.Flow]()} {
		schemas.nameOf(t)
	}
	problemRef := schemas.ref(reflect.TypeFor[Problem]())
	paths := map[string]any{}
	sorted := append([]Route(nil), routes...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Pattern < sorted[j].Pattern })
	for _, rt := range sorted {
		p := openAPIPath(rt.Pattern)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
		}
		if len(rt.Tags) > 0 {
			op["tags"] = rt.Tags
		}
		var params []any
		for _, name := range pathParams(rt.Pattern) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true,
				"schema": map[string]any{"type": "string"}})
		}
		for _, prm := range rt.Params {
			typ := prm.Type
			if typ == "" {
				typ = "string"
			}
			params = append(params, map[string]any{"name": prm.Name, "in": prm.In, "required": prm.Required,
				"description": prm.Description, "schema": map[string]any{"type": typ}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemas.ref(reflect.TypeOf(rt.Request))}}}
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		ok := map[string]any{"description": http.StatusText(status)}
		switch {
		case rt.ContentType != "":
			ok["content"] = map[string]any{rt.ContentType: map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.Response != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": schemas.ref(reflect.TypeOf(rt.Response))}}
		}
		responses := map[string]any{itoa(status): ok}
		for _, code := range rt.Errors {
			responses[itoa(code)] = map[string]any{"description": http.StatusText(code),
				"content": map[string]any{ProblemContentType: map[string]any{"schema": problemRef}}}
		}
		responses["default"] = map[string]any{"description": "Error",
			"content": map[string]any{ProblemContentType: map[string]any{"schema": problemRef}}}
		op["responses"] = responses
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "TwinFlow API", "version": version,
			"description": "TwinFlow northbound REST API. Every network entity lives in a twin: the live twin has ID \"live\", forks get their own IDs. Errors are application/problem+json (RFC 9457)."},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas.defs},
	}
}

func operationID(rt Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, seg := range strings.Split(rt.Pattern, "/") {
		if seg == "" || seg == "api" || seg == "v1" {
			continue
		}
		seg = pathParamRE.ReplaceAllString(seg, "by-$1")
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' || r == '.' || r == ':' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{digits[n%10]}, b...)
		n /= 10
	}
	return string(b)
}
