// Package change is the vocabulary of TwinFlow's change pipeline: the ChangeSet (typed
// intents plus what they compile to — per-device OpenConfig operations and twin model
// deltas), its strict YAML/JSON decoding, the durable state machine of a change, the
// OpenConfig configuration tree that device operations are applied to, the pure L0
// static checks and the validation report.
//
// The package is pure: no I/O, no clocks, no globals. The twin layer (twin/change) runs
// the pipeline (fork, validate, store, approve, commit) and physical/commit sends the
// operations to devices.
//
// A ChangeSet document (YAML or JSON, unknown fields rejected):
//
//	label: acme-slice
//	author: bo
//	kind: intent            # intent | raw-config
//	level: L1               # L0 | L1 | L2
//	intents:
//	  - type: slice
//	    name: acme
//	device_ops:
//	  r1:
//	    - op: update
//	      path: /interfaces/interface[name=eth1]/config
//	      value: {mtu: 9000, description: to-r2}
//	twin:
//	  add_flows:
//	    - id: acme-1
//	      src: r1
//	      dst: r3
//	      slo: {min_rate_gbps: 2, max_latency_ms: 20, isolation: hard}
//
// Requirements traced: REQ-AUTO-11 (rollback of misconfiguration), REQ-SLI-03/04
// (isolation checks), REQ-MON-03 (modification of existing elements).
package change
