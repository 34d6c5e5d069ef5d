// Package dataset generates labelled training datasets for networking ML from
// TwinFlow's models (seed 004 §9.2, issue #18).
//
// A Spec (YAML) names topology families (the generators of models/network or an
// imported network file), a routing mode (models/routing through bottleneck.Router),
// traffic-matrix models (uniform, gravity, hot-spot) and a bound on random link
// failures. Samples are grouped in scenarios: every sample of a scenario shares one
// topology, one failure set and one routing, and draws its own traffic matrix. Labels
// come from the bottleneck structure (models/bottleneck): per-flow max-min rate and
// bottleneck level, per-link load, utilisation and level, and optionally the link
// gradients. With labels.queue the Parquet tables also carry per-flow delay, jitter and
// loss and per-link loss from the queueing model (models/queue); otherwise, in the
// RouteNet layout, and for a sample the model does not converge on, they are absent
// (null in Parquet, "nan" in the RouteNet layout), never zero.
//
// With spec.emulate, the first samples are also run in the netns sandbox
// (twin/emulation, through an Emulator: NetnsEmulator, or a fake in unit tests): one
// greedy TCP connection per flow along the sample's paths, and the measured goodput,
// RTT, retransmissions and loss go to the Parquet emulated_* columns beside the model's
// labels (label_source model+emulation). Those columns are measurements, not
// deterministic; everything else is.
//
// Every scenario is a pure function of (spec, seed, scenario index), so output is
// byte-identical for the same seed (emulated columns aside), a shard (I/N) writes exactly the scenarios
// j ≡ I (mod N), and Merge of the N shard directories equals a single run. A scenario's
// files are written to temporary names and renamed, so an interrupted run resumes by
// skipping the scenarios whose files all exist.
//
// Output layout (see docs/datasets.md):
//
//	dataset.json                         manifest (spec, counts, schema version)
//	schema.json                          column schema of the Parquet tables
//	parquet/{samples,flows,links}/part-NNNNNN.parquet
//	routenet/graphs/sNNNNNN.gml          BNN-UPC datanetAPI layout
//	routenet/routings/sNNNNNN/Routing_src_<i>.txt
//	routenet/results_<name>_<j>_<j>.tar.gz
package dataset
