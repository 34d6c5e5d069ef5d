// Package alto is TwinFlow's ALTO server (Application-Layer Traffic Optimization,
// RFC 7285) over the live twin, with the multi-cost (RFC 8189), incremental update
// (RFC 8895: SSE with JSON merge patches), entity property map (RFC 9240) and path
// vector (RFC 9275) extensions, and the bottleneck structure graph asked for by
// draft-giraltyellamraju-alto-bsg-requirements.
//
// One registry of resources (ID, method, path, media type, accepted media type,
// capabilities, uses, handler) builds both the routes and the Information Resource
// Directory. Every resource is computed from a snapshot of one revision of the live
// twin's intended state (network map from device configurations and labels, costs from
// models/routing shortest-path forests, bandwidth from the models/bottleneck
// structure), rebuilt when the revision moves on; a resource's vtag keeps its tag while
// its content is unchanged and gets a new one, derived from the revision, exactly when
// the content changes.
//
// Errors are ALTO errors (application/alto-error+json with E_SYNTAX, E_MISSING_FIELD,
// E_INVALID_FIELD_TYPE or E_INVALID_FIELD_VALUE and the offending field), written by
// this package's own writer, apart from the REST API's problem+json. The package is
// self-contained: New(Options{Twins: ...}) and Handler(); Options.Middleware wraps every
// handler (peer authentication). See docs/alto.md.
package alto
