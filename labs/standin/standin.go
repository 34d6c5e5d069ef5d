// Package standin runs a stand-in physical network: one twinflow-node process (sim
// dataplane by default) per device of a network.Network, on free loopback ports, with
// interfaces named after the device's endpoints. It waits until every node answers
// gNMI Capabilities, reports their addresses, and stops them all (also when its context
// is cancelled) without leaving orphans.
package standin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sync/errgroup"

	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// Errors of the stand-in network.
var (
	// ErrStart is wrapped when a node process fails to come up.
	ErrStart = errors.New("standin: node failed to start")
	// ErrSpec is wrapped by invalid node specs.
	ErrSpec = errors.New("standin: invalid spec")
)

// NodeSpec describes one twinflow-node process.
type NodeSpec struct {
	Name  string
	Ports []string
	// Dataplane is "sim" (default) or "linux".
	Dataplane string
	// GNMIAddr is the listen address (default 127.0.0.1:0).
	GNMIAddr string
	// FaultAddr is the sim fault endpoint's address (default 127.0.0.1:0; "-" disables).
	FaultAddr string
	// TLS serves gNMI over TLS with a generated self-signed certificate (default plaintext).
	TLS bool
	// Username and Password, if set, are required by the node.
	Username, Password string
	// NetNS runs the node inside this network namespace (`ip netns exec`).
	NetNS string
	// StateInterval is passed as --state-interval when non-zero.
	StateInterval time.Duration
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
	// ClientCA makes the node require client certificates signed by this PEM bundle
	// (mutual TLS); ClientCert and ClientKey are what this package then presents.
	ClientCA, ClientCert, ClientKey string
}

// Node is a running twinflow-node process.
type Node struct {
	Spec      NodeSpec
	Name      string
	GNMIAddr  string
	FaultAddr string
	TLS       bool

	bin    string
	log    *slog.Logger
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ready is the JSON line twinflow-node prints once serving (labs/node.Ready).
type ready struct {
	Name      string `json:"name"`
	GNMIAddr  string `json:"gnmi_addr"`
	FaultAddr string `json:"fault_addr"`
	TLS       bool   `json:"tls"`
}

// StartNode starts one twinflow-node from the binary bin and waits until it answers
// Capabilities (at most 15 s). The process is killed if ctx is cancelled.
func StartNode(ctx context.Context, bin string, spec NodeSpec, log *slog.Logger) (*Node, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("%w: node name is required", ErrSpec)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{Spec: spec, Name: spec.Name, bin: bin, log: log}
	if err := n.start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Node) args() []string {
	s := n.Spec
	dp := s.Dataplane
	if dp == "" {
		dp = "sim"
	}
	addr := s.GNMIAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	a := []string{"--name", s.Name, "--dataplane", dp, "--gnmi-addr", addr}
	if len(s.Ports) > 0 {
		a = append(a, "--ports", strings.Join(s.Ports, ","))
	}
	if dp == "sim" && s.FaultAddr != "-" {
		fa := s.FaultAddr
		if fa == "" {
			fa = "127.0.0.1:0"
		}
		a = append(a, "--fault-addr", fa)
	}
	if !s.TLS {
		a = append(a, "--insecure")
	}
	if s.Username != "" {
		a = append(a, "--username", s.Username) // the password goes by environment (start), never argv
	}
	if s.StateInterval > 0 {
		a = append(a, "--state-interval", s.StateInterval.String())
	}
	if s.ClientCA != "" {
		a = append(a, "--client-ca", s.ClientCA)
	}
	return append(a, s.ExtraArgs...)
}

func (n *Node) start(ctx context.Context) error {
	args := n.args()
	name := n.bin
	if n.Spec.NetNS != "" {
		args = append([]string{"netns", "exec", n.Spec.NetNS, n.bin}, args...)
		name = "ip"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if n.Spec.Username != "" {
		cmd.Env = append(os.Environ(), "TWINFLOW_NODE_PASSWORD="+n.Spec.Password)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStart, n.Name, err)
	}
	n.stderr = &lockedBuffer{}
	cmd.Stderr = n.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStart, n.Name, err)
	}
	n.cmd = cmd
	n.done = make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
	}()
	go func() { _ = cmd.Wait(); close(n.done) }()
	var line string
	select {
	case line = <-lines:
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
	}
	var rd ready
	if err := json.Unmarshal([]byte(line), &rd); err != nil || rd.GNMIAddr == "" {
		n.kill()
		return fmt.Errorf("%w: %s: no ready line (stderr: %s)", ErrStart, n.Name, strings.TrimSpace(n.stderr.String()))
	}
	n.GNMIAddr, n.FaultAddr, n.TLS = rd.GNMIAddr, rd.FaultAddr, rd.TLS
	c, err := tfgnmi.Dial(n.ClientOptions())
	if err != nil {
		n.kill()
		return err
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := c.Capabilities(cctx); err != nil {
		n.kill()
		return fmt.Errorf("%w: %s: %v (stderr: %s)", ErrStart, n.Name, err, strings.TrimSpace(n.stderr.String()))
	}
	n.log.Info("node up", "node", n.Name, "gnmi", n.GNMIAddr, "fault", n.FaultAddr)
	return nil
}

// ClientOptions returns driver options to reach the node (skip-verify for its
// self-signed certificate when TLS).
func (n *Node) ClientOptions() tfgnmi.Options {
	o := tfgnmi.Options{Address: n.GNMIAddr, Insecure: !n.TLS, SkipVerify: n.TLS, Username: n.Spec.Username, Password: n.Spec.Password,
		CertFile: n.Spec.ClientCert, KeyFile: n.Spec.ClientKey}
	if n.Spec.NetNS != "" {
		o.Dialer = NetNSDialer(n.Spec.NetNS)
	}
	return o
}

// NetNSDialer returns a dialer whose TCP connections are created inside the named
// network namespace (so a node listening on 127.0.0.1 there can be reached).
func NetNSDialer(name string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		target, err := netns.GetFromName(name)
		if err != nil {
			return nil, fmt.Errorf("standin: netns %s: %w", name, err)
		}
		defer target.Close()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return nil, fmt.Errorf("standin: current netns: %w", err)
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			return nil, fmt.Errorf("standin: enter netns %s: %w", name, err)
		}
		// The socket is created in the namespace of this (locked) thread.
		var d net.Dialer
		conn, derr := d.DialContext(ctx, "tcp", addr)
		if err := netns.Set(orig); err != nil {
			// The thread is stuck in the wrong namespace: do not unlock it, so the
			// runtime discards it when the goroutine exits.
			runtime.LockOSThread()
			if conn != nil {
				conn.Close()
			}
			return nil, fmt.Errorf("standin: leave netns %s: %w", name, err)
		}
		return conn, derr
	}
}

// Stderr returns what the node wrote to stderr (for diagnostics).
func (n *Node) Stderr() string { return n.stderr.String() }

// Done is closed when the process has exited.
func (n *Node) Done() <-chan struct{} { return n.done }

func (n *Node) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// Stop terminates the node (SIGTERM, then SIGKILL after 3 s) and waits for it.
func (n *Node) Stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(3 * time.Second):
		n.kill()
	}
}

// Fault posts body (JSON; "" for none) to path on the node's sim fault endpoint —
// "/traffic", "/interfaces/eth1/down", "/fail-next-apply?count=1" (docs/southbound.md)
// — and expects 204 No Content.
func (n *Node) Fault(ctx context.Context, path, body string) error {
	if n.FaultAddr == "" {
		return fmt.Errorf("standin: %s has no fault endpoint", n.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.FaultAddr+path, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("standin: %s fault %s: %w", n.Name, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("standin: %s fault %s: %w", n.Name, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("standin: %s fault %s: %s: %s", n.Name, path, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Signal sends sig to the node process (e.g. SIGSTOP to make it hang).
func (n *Node) Signal(sig os.Signal) error {
	if n.cmd == nil || n.cmd.Process == nil {
		return fmt.Errorf("%w: %s: not running", ErrStart, n.Name)
	}
	return n.cmd.Process.Signal(sig)
}

// Restart stops the node and starts it again on the same gNMI and fault addresses.
func (n *Node) Restart(ctx context.Context) error {
	n.Stop()
	n.Spec.GNMIAddr = n.GNMIAddr
	if n.FaultAddr != "" {
		n.Spec.FaultAddr = n.FaultAddr
	}
	return n.start(ctx)
}

// Options configure a stand-in network.
type Options struct {
	// Bin is the path of the twinflow-node binary (required).
	Bin string
	// TLS makes nodes serve TLS with self-signed certificates (default plaintext).
	TLS bool
	// Username and Password, if set, are required by every node.
	Username, Password string
	// StateInterval is each node's state refresh interval (default the node's).
	StateInterval time.Duration
	// Concurrency bounds parallel starts (default 8).
	Concurrency int
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
}

// Network is a running stand-in network.
type Network struct {
	nodes map[string]*Node
}

// Start starts one node per device of net. Ports are the device's endpoint IDs (a
// device without endpoints gets a single port "eth0"). On any failure every node already
// started is stopped.
func Start(ctx context.Context, net network.Network, o Options) (*Network, error) {
	if o.Bin == "" {
		return nil, fmt.Errorf("%w: twinflow-node binary path is required", ErrSpec)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	w := &Network{nodes: map[string]*Node{}}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for _, d := range net.Devices {
		ports := make([]string, 0, len(d.Endpoints))
		for _, ep := range d.Endpoints {
			ports = append(ports, ep.ID)
		}
		if len(ports) == 0 {
			ports = []string{"eth0"}
		}
		spec := NodeSpec{Name: d.ID, Ports: ports, TLS: o.TLS, Username: o.Username, Password: o.Password, StateInterval: o.StateInterval}
		g.Go(func() error {
			if gctx.Err() != nil {
				return gctx.Err()
			}
			// Nodes live as long as ctx (not gctx, which ends with Start).
			n, err := StartNode(ctx, o.Bin, spec, o.Logger)
			if err != nil {
				return err
			}
			mu.Lock()
			w.nodes[spec.Name] = n
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		w.Stop()
		return nil, err
	}
	return w, nil
}

// Node returns a device's node.
func (w *Network) Node(device string) (*Node, bool) {
	n, ok := w.nodes[device]
	return n, ok
}

// Names returns the device names, sorted.
func (w *Network) Names() []string {
	out := make([]string, 0, len(w.nodes))
	for n := range w.nodes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Addresses maps each device to its node's gNMI address.
func (w *Network) Addresses() map[string]string {
	out := make(map[string]string, len(w.nodes))
	for n, nd := range w.nodes {
		out[n] = nd.GNMIAddr
	}
	return out
}

// Register adds every node to a driver pool under its device name.
func (w *Network) Register(p *tfgnmi.Pool) error {
	for _, n := range w.Names() {
		if _, err := p.Add(n, w.nodes[n].ClientOptions()); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every node and waits for them.
func (w *Network) Stop() {
	var wg sync.WaitGroup
	for _, n := range w.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.Stop() }()
	}
	wg.Wait()
}
