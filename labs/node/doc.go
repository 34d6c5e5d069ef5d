// Package node is twinflow-node: a gNMI target (Capabilities, Get, Set, Subscribe) over
// a small OpenConfig subset (see package schema), backed by a dataplane: the in-memory
// `sim` (counters integrate told traffic rates; links fail through a fault endpoint) or
// `linux` (netlink in the node's own network namespace).
//
// Set is atomic per request: the config tree is copied, every delete/replace/update is
// applied to the copy, the result is validated and handed to the dataplane; only if the
// dataplane accepts it is the copy swapped in, otherwise the dataplane is restored and
// the request fails with nothing changed.
//
// Errors map to gRPC codes: malformed paths, wrong value types, read-only paths and
// invalid references are InvalidArgument; elements not in the schema and paths without
// data are NotFound; too many operations, paths or subscriptions and oversized messages
// are ResourceExhausted; a dataplane failure is Aborted; bad credentials Unauthenticated.
//
// Main parses the command line of cmd/twinflow-node.
package node
