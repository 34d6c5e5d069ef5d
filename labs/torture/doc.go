// Package torture is TwinFlow's fault-injection harness (REQ-REL-01..05, issue 21). It
// is test-only: its tests run independent twinflow-node processes behind TCP proxies, a
// `twinflow serve` controller process and a private PostgreSQL cluster, inject faults
// at random moments of random commits (controller SIGKILL, device SIGKILL and restart
// with its saved configuration, a partitioned device, a device whose answers are held,
// PostgreSQL killed or restarted, the repository's disk full) and check the invariants
// of docs/reliability.md from outside the controller after every trial. Run it with
// `make torture TRIALS=N SEED=S`; a failing trial prints the command that replays it.
package torture
