// Package bottleneck computes the bottleneck structure of a congestion-controlled
// network (Ros-Giralt et al.; definitions in docs/bottleneck.md and BOTTLENECK.md):
// max-min fair rates by water-filling with demand caps, levels, bottleneck sets, the
// flow gradient graph (FGG) and path gradient graph (PGG, Q-PGG), one-sided link and
// flow gradients, regions of influence, and incremental what-if (add or remove flows,
// change capacities or demands, fail a link or device with rerouting) whose results
// equal a full recomputation.
//
// Two engines share one interned representation (dense int32 indices, per-link and
// per-flow adjacency): a float64 engine for scale (State, with a relative tolerance for
// ties) and an exact engine over math/big.Rat (State.Exact) for reference vectors and
// tests.
//
// The package is pure: no I/O except to writers callers pass, no clocks, no globals.
package bottleneck
