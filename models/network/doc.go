// Package network is TwinFlow's basic network model: contexts, topologies, devices with
// their endpoints, drivers and config rules, links with capacity and latency, and the
// flows the functional models reason about.
//
// The vocabulary follows the TeraFlow context model (seed 000, §6.3.1.1, context.proto):
// Context, Topology, Device (type, drivers, endpoints, config rules, operational status),
// EndPoint and Link (endpoints, total and used capacity, latency).
//
// The package is pure: no I/O beyond the readers and writers callers hand it, no clocks,
// no globals, and every generator is deterministic for a given seed.
package network
