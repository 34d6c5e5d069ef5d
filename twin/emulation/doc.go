// Package emulation is TwinFlow's emulation sandbox: it turns a network document
// (models/network.Network) into a running lab of emulated nodes, reconfigures it in
// place, runs probes in it (ping, concurrent TCP flows with a chosen congestion control)
// and compares what it measured with what the models predicted (validation level L2).
//
// One Backend interface, two implementations:
//
//   - Netns (netns.go): one Linux network namespace per device, veth pairs for links,
//     each link direction shaped with HTB to its capacity times a scale factor, and a
//     selectable router queue model, QueueFQ (one HTB class per flow, u32 filters, equal
//     quantum) or QueueFIFO (one HTB class, one pfifo). Needs root, no container engine.
//   - Containerlab (containerlab.go): writes a containerlab topology file, validates it
//     against containerlab's JSON schema and drives the containerlab CLI.
//
// Sandbox (sandbox.go) is the API the change pipeline calls for L2: Mirror a network,
// Probe, and Compare measured against predicted.
//
// Addressing plan of the netns backend (see docs/emulation.md):
//
//   - node address (loopback, /32, source and destination of probes):
//     10.0.0.0/9, node slot i -> 10.0.0.0 + i + 1;
//   - link subnets: 10.128.0.0/9, link slot k -> 10.128.0.0 + 4k /30, A end .1, B end .2;
//   - management: one bridge per lab in the root namespace holding 198.18.S.1/20 (the
//     RFC 2544 benchmarking range, 198.18.0.0/15, split into 32 /20 slots), each node's
//     mgmt0 gets 198.18.S.(2+i); node agents serve gNMI there on port 9339.
//
// Every namespace is named <prefix><lab>.<node>, every root-namespace interface carries
// the alias "twinflow-lab:<prefix><lab>", so Sweep finds and removes leftovers of a lab
// (after a crash or a killed test) by its label.
package emulation
