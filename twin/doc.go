// Package twin holds TwinFlow's digital twins: the intended and observed state of the
// network in an in-memory, transactional store (go-memdb), forkable in O(1).
//
// A Manager owns the live twin (ID "live") and any number of forks. A fork is a
// copy-on-write snapshot of its parent taken at one revision: writes to the fork never
// reach the parent and later writes to the parent never reach the fork. Forks of forks
// are allowed.
//
// Tables (see Table): contexts, topologies, devices, links, flows, device_configs,
// services, slices, policies and changes hold intended state; observed_interfaces and
// observed_devices hold what telemetry reports (ObserveInterface, ObserveDevice).
//
// Every intended write goes through Twin.Update, one all-or-nothing transaction that
//
//   - validates each object against the network model (models/network validators),
//   - enforces referential integrity at commit (no link to an unknown device or endpoint,
//     no deleting a device a link, flow or topology still uses: ErrConflict naming the
//     referencing object),
//   - checks optimistic concurrency: every object carries the revision of the
//     transaction that last wrote it, and a write with an expected revision that does not
//     match fails with ErrPrecondition,
//   - advances the twin's revision by one (a monotonically increasing counter per twin,
//     inherited by forks at fork time), and
//   - publishes one typed Event per changed object (create, update, remove) on the
//     Manager's Hub, in commit order.
//
// Observed-state writes do not advance the intended revision and never touch intended
// tables; they publish events too.
//
// Objects handed out by the twin share slices and maps with the stored copy: treat them
// as read-only (copy before modifying). Objects handed in are deep-copied.
package twin
