// Package nbi is TwinFlow's northbound REST API (chi) under /api/v1.
//
// Every network entity lives in a twin: the live twin has ID "live", forks get their
// own IDs ("fork-<n>"). Routes:
//
//	GET    /api/v1/twins                               list twins
//	GET    /api/v1/twins/{twin}                        describe a twin
//	DELETE /api/v1/twins/{twin}                        delete a fork (live: 409)
//	POST   /api/v1/twins/{twin}/forks                  fork a twin (201, O(1))
//	POST   /api/v1/twins/{twin}/apply                  apply a network document, all or nothing
//	GET    /api/v1/twins/{twin}/network                export the intended network
//	GET|POST            /api/v1/twins/{twin}/{kind}        list (paginated) / create
//	GET|PUT|DELETE      /api/v1/twins/{twin}/{kind}/{id}   read / create-or-replace / delete
//	                    kind: contexts, topologies, devices, links, flows
//	GET    /api/v1/twins/{twin}/observed/{devices,links,interfaces}[/{id}]  observed state
//	GET    /api/v1/events                              SSE stream (?twin=, ?table=, Last-Event-ID)
//	GET    /api/v1/openapi.json                        OpenAPI 3 document
//	GET    /healthz, /readyz, /metrics
//	GET    /, /ui/*                                    the web UI (ui.go, apps/ui)
//	POST|GET|DELETE /api/v1/session                    UI login (a session token), whoami, logout
//	GET    /api/v1/session/demo                        the demo users the login page offers
//
// Errors are application/problem+json (RFC 9457) with "field" (the offending field)
// and "request_id". Objects carry a "revision", also sent as the ETag; PUT and DELETE
// honour If-Match (412 on mismatch). Lists take ?limit= and ?page_token= and return
// items in ID order with next_page_token.
//
// # Adding a route group
//
// A file of this package declares its routes in a function returning []Route (a
// RouteGroup), and New lists every group of the package explicitly; Options.Routes adds
// groups from outside. What a Server needs is passed to New in Options (the twins, the
// change pipeline, the drift detector, the telemetry history), never found through
// package state. The router and the OpenAPI document are both built from the route
// table, so the new routes are documented automatically (TestOpenAPIInSync checks both
// ways):
//
//	// file apps/nbi/analysis.go; New lists analysisRoutes
//	func analysisRoutes(s *Server) []Route {
//		return []Route{{
//			Method: http.MethodPost, Pattern: "/api/v1/twins/{twin}/analysis/bottlenecks",
//			Summary: "Bottleneck structure of a twin", Tags: []string{"analysis"},
//			Request: AnalysisRequest{}, Response: AnalysisResult{},
//			Errors: []int{400, 404, 422},
//			Handler: func(w http.ResponseWriter, r *http.Request) error {
//				t, err := s.twinOf(r) // resolves {twin}, 404 if unknown
//				if err != nil {
//					return err
//				}
//				var req AnalysisRequest
//				if err := DecodeJSON(w, r, s.MaxBodyBytes(), &req); err != nil {
//					return err // 400/413/415 problem naming the field
//				}
//				...
//				return writeJSON(w, http.StatusOK, result)
//			},
//		}}
//	}
//
// Handlers return errors: an *Error chooses the status, problem type, detail and field;
// twin errors (twin.ErrNotFound, ErrExists, ErrConflict, ErrPrecondition, ErrInvalid)
// are mapped to 404, 409, 409, 412 and 422; anything else is a 500 whose text is logged
// with the request ID and never sent. TestMain fails a full `go test` run of this
// package if a served route was not exercised by any test, so add tests for a new
// group in the same change. Request and Response are sample values whose Go
// types become OpenAPI schemas by reflection (json tags; embedded structs inlined).
package nbi
