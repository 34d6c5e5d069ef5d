package emulation

import (
	"context"
	"errors"
	"fmt"

	"github.com/twinflow/twinflow/models/network"
)

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrInvalid: the network or an option cannot be emulated (names the element).
	ErrInvalid = errors.New("emulation: invalid input")
	// ErrNotDeployed: the lab is not deployed.
	ErrNotDeployed = errors.New("emulation: lab not deployed")
	// ErrUnavailable: a prerequisite is missing on this machine (root, a binary, a
	// container engine).
	ErrUnavailable = errors.New("emulation: unavailable here")
	// ErrCommand: an external command (ip, tc, containerlab) failed.
	ErrCommand = errors.New("emulation: command failed")
	// ErrProbe: a probe could not run (as opposed to running and failing, which is a
	// result).
	ErrProbe = errors.New("emulation: probe error")
)

// Backend is an emulation backend. Implementations are safe for use by one goroutine at
// a time per lab.
type Backend interface {
	// Deploy creates the lab from n. Leftovers of a lab with the same name are swept
	// first; a failed deploy removes everything it created.
	Deploy(ctx context.Context, n *network.Network) error
	// Reconfigure changes the deployed lab in place to match n: nodes and links are
	// added or removed, link rates, addresses and routes updated; nodes present before
	// and after keep their namespace, agent and addresses.
	Reconfigure(ctx context.Context, n *network.Network) error
	// Nodes lists the lab's nodes with their addresses.
	Nodes(ctx context.Context) ([]NodeInfo, error)
	// Probe runs probes concurrently (TCP flows all at once) and returns one result per
	// spec, in order. A probe that runs and fails (no echo reply) is a result with OK
	// false and evidence, not an error.
	Probe(ctx context.Context, specs []ProbeSpec) ([]ProbeResult, error)
	// Destroy removes everything the lab created. Destroying an absent lab is not an
	// error.
	Destroy(ctx context.Context) error
}

// NodeInfo describes one emulated node.
type NodeInfo struct {
	// ID is the device ID in the network document.
	ID string `json:"id"`
	// Namespace (netns backend) or container name (containerlab backend).
	Namespace string `json:"namespace"`
	// Address is the node's own address (loopback /32): source and target of probes.
	Address string `json:"address"`
	// MgmtAddress is the management address reachable from the controller.
	MgmtAddress string `json:"mgmt_address,omitempty"`
	// GNMIAddress is host:port of the node's gNMI agent, empty if no agent runs.
	GNMIAddress string `json:"gnmi_address,omitempty"`
	// PID of the node agent, 0 if none.
	PID int `json:"pid,omitempty"`
	// Interfaces are the node's data interfaces.
	Interfaces []InterfaceInfo `json:"interfaces,omitempty"`
}

// InterfaceInfo is one data interface of a node.
type InterfaceInfo struct {
	Name     string `json:"name"`
	EndPoint string `json:"endpoint"`
	Link     string `json:"link"`
	Address  string `json:"address"`
	Peer     string `json:"peer"`
	// RateBps is the egress shaping rate in bits/s (0: unshaped).
	RateBps uint64 `json:"rate_bps"`
}

// QueueModel selects the router queue discipline emulated on every shaped link.
type QueueModel string

// Queue models. FQ approximates the max-min fair allocation the bottleneck model
// assumes; FIFO is what most routers do and what TCP alone cannot make fair.
const (
	QueueFQ   QueueModel = "fq"
	QueueFIFO QueueModel = "fifo"
)

// ParseQueueModel parses "fq" or "fifo".
func ParseQueueModel(s string) (QueueModel, error) {
	switch QueueModel(s) {
	case QueueFQ, QueueFIFO:
		return QueueModel(s), nil
	}
	return "", fmt.Errorf("%w: queue model %q (want fq or fifo)", ErrInvalid, s)
}

// ProbeKind is the kind of a probe.
type ProbeKind string

// Probe kinds.
const (
	ProbePing ProbeKind = "ping"
	ProbeTCP  ProbeKind = "tcp"
	// ProbeL2Ping pings between two attachments (ProbeSpec.SrcPort, DstPort): a test
	// host is put on the far side of each attachment's link, in a private subnet with
	// no gateway, so only a layer-2 path between the attachments (a bridge of a
	// service) can carry the echo. netns backend only.
	ProbeL2Ping ProbeKind = "l2-ping"
)
