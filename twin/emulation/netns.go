package emulation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sync/errgroup"

	"github.com/twinflow/twinflow/labs/delayline"
	"github.com/twinflow/twinflow/models/network"
)

// DefaultStateDir holds the state files of deployed netns labs.
const DefaultStateDir = "/run/twinflow/labs"

// Netns is the network-namespace backend. Set the exported fields before Deploy.
type Netns struct {
	// Options name the lab and choose scale and queue model.
	Options Options
	// NodeCmd, if set, starts a node agent in every namespace: the command is run as
	// `ip netns exec <ns> NodeCmd... --gnmi-addr <mgmt>:9339` (e.g.
	// ["twinflow-node", "--dataplane", "linux", "--insecure"]).
	NodeCmd []string
	// Config pushes the data interfaces' addresses to the node agents (required with
	// NodeCmd: the agent owns its ports' configuration, so addresses go through gNMI,
	// the production driver in the change pipeline).
	Config Configurer
	// ProbeCmd is the argv prefix of the probe agent run inside namespaces, e.g.
	// ["twinflow-node", "probe"]; subcommand and flags of labs/probe follow.
	ProbeCmd []string
	// DelayCmd is the argv prefix of the userspace delay line, e.g.
	// ["twinflow-node", "delay"] (flags of labs/delayline follow). Where the kernel has
	// no netem, each link with a latency is split and a delay line run in between
	// (Plan.DelayLine); without DelayCmd such links get no delay.
	DelayCmd []string
	// StateDir holds the lab's state file (default DefaultStateDir).
	StateDir string
	// Log receives progress messages (discarded if nil).
	Log *slog.Logger

	plan  *Plan
	state *State
}

// State is what a deployed netns lab leaves on disk so that another process can show
// and destroy it.
type State struct {
	Backend  string    `json:"backend"`
	Plan     *Plan     `json:"plan"`
	Agents   []Agent   `json:"agents,omitempty"`
	NodeCmd  []string  `json:"node_cmd,omitempty"`
	ProbeCmd []string  `json:"probe_cmd,omitempty"`
	DelayCmd []string  `json:"delay_cmd,omitempty"`
	Created  time.Time `json:"created"`
}

// Agent is a node agent process.
type Agent struct {
	Node string `json:"node"`
	PID  int    `json:"pid"`
}

func (b *Netns) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return b.Log
}

func (b *Netns) stateDir() string {
	if b.StateDir == "" {
		return DefaultStateDir
	}
	return b.StateDir
}

// statePath returns the state file of the lab.
func (b *Netns) statePath() (string, error) {
	o, err := b.Options.withDefaults(0)
	if err != nil {
		return "", err
	}
	return filepath.Join(b.stateDir(), o.Label()+".json"), nil
}

// requireRoot reports ErrUnavailable unless running as root.
func requireRoot() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the netns backend needs root (network namespaces, veth, tc)", ErrUnavailable)
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s (iproute2) not found: %v", ErrUnavailable, tool, err)
		}
	}
	return nil
}

// Load reads the lab's state file (written by Deploy, possibly in another process).
func (b *Netns) Load() error {
	path, err := b.statePath()
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: no state file %s", ErrNotDeployed, path)
	}
	if err != nil {
		return fmt.Errorf("emulation: read state: %w", err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("%w: state file %s: %v", ErrInvalid, path, err)
	}
	if st.Plan == nil {
		return fmt.Errorf("%w: state file %s has no plan", ErrInvalid, path)
	}
	b.state, b.plan = &st, st.Plan
	b.Options = st.Plan.Options
	if len(b.ProbeCmd) == 0 {
		b.ProbeCmd = st.ProbeCmd
	}
	if len(b.NodeCmd) == 0 {
		b.NodeCmd = st.NodeCmd
	}
	if len(b.DelayCmd) == 0 {
		b.DelayCmd = st.DelayCmd
	}
	return nil
}

// Plan returns the deployed plan (nil if not deployed).
func (b *Netns) Plan() *Plan { return b.plan }

func (b *Netns) saveState() error {
	path, err := b.statePath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("emulation: state dir: %w", err)
	}
	raw, err := json.MarshalIndent(b.state, "", "  ")
	if err != nil {
		return fmt.Errorf("emulation: encode state: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("emulation: write state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("emulation: write state: %w", err)
	}
	return nil
}

// Deploy implements Backend.
func (b *Netns) Deploy(ctx context.Context, n *network.Network) (err error) {
	if err := requireRoot(); err != nil {
		return err
	}
	o, err := b.Options.withDefaults(0)
	if err != nil {
		return err
	}
	if len(b.NodeCmd) > 0 && b.Config == nil {
		return fmt.Errorf("%w: NodeCmd needs a Configurer to push interface addresses to the agents", ErrInvalid)
	}
	// Validate before touching anything (the management slot does not affect validity).
	if _, err := NewPlan(n, b.Options, nil, 0); err != nil {
		return err
	}
	if err := Sweep(ctx, o.Label(), b.stateDir()); err != nil {
		return err
	}
	// Choosing a management subnet and creating the bridge that holds it happen under a
	// host-wide lock, so that two labs deployed at once cannot pick the same subnet.
	unlock, err := lockMgmt()
	if err != nil {
		return err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	slot, err := freeMgmtSlot(ctx, o.Label())
	if err != nil {
		return err
	}
	plan, err := NewPlan(n, b.Options, nil, slot)
	if err != nil {
		return err
	}
	start := time.Now()
	defer func() {
		if err != nil {
			// A failed deploy leaves nothing behind. Use a fresh context: ctx may be
			// the reason we failed.
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if serr := Sweep(cctx, o.Label(), b.stateDir()); serr != nil {
				err = errors.Join(err, serr)
			}
			b.plan, b.state = nil, nil
		}
	}()
	b.plan = plan
	b.state = &State{Backend: "netns", Plan: plan, NodeCmd: b.NodeCmd, ProbeCmd: b.ProbeCmd, DelayCmd: b.DelayCmd, Created: time.Now().UTC()}
	// The state file is written first so that `lab destroy` from another process can
	// find a half-deployed lab; the label-based sweep covers the rest.
	if err := b.saveState(); err != nil {
		return err
	}
	// Whether links need splitting for delay lines is known before they are created:
	// netem is looked for in a namespace of the lab's own (swept with it).
	if plan.Netem, err = netemProbe(ctx, o.Label()); err != nil {
		return err
	}
	if !plan.Netem && hasDelay(plan) {
		if len(b.DelayCmd) == 0 {
			b.log().Warn("no netem in this kernel and no delay line command: link latencies are not emulated", "lab", o.Label())
		} else {
			plan.DelayLine = true // latencies are within delayline.MaxDelay: NewPlan bounds them
		}
	}
	if err := batch(ctx, "ip", "", ipLinkBatch(plan, plan.Nodes, plan.Links, true)); err != nil {
		return fmt.Errorf("emulation: deploy %s: create links: %w", o.Label(), err)
	}
	unlock()
	locked = false
	if err := b.startDelayLines(ctx, plan.Links); err != nil {
		return err
	}
	if err := b.configureNodes(ctx, plan.Nodes, plan.Nodes); err != nil {
		return err
	}
	if err := b.saveState(); err != nil {
		return err
	}
	b.log().Info("lab deployed", "lab", o.Label(), "nodes", len(plan.Nodes), "links", len(plan.Links), "took", time.Since(start))
	return nil
}

// configureNodes sets sysctls, addresses, shaping and routes of nodes, in parallel, and
// starts the agents of startAgents (a subset of nodes). Without agents the data
// interfaces' addresses are set with ip; with agents they are pushed to the agent over
// gNMI (the agent owns its ports). Routes come last, once every interface is up.
func (b *Netns) configureNodes(ctx context.Context, nodes, startAgents []PlanNode) error {
	plan := b.plan
	agents := len(b.NodeCmd) > 0
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, runtime.NumCPU()*2))
	for i := range nodes {
		n := &nodes[i]
		g.Go(func() error {
			if err := setSysctls(n.Namespace); err != nil {
				return err
			}
			lines := nodeAddrBatch(plan, n)
			if agents {
				lines = lines[:baseAddrLines(n)] // lo and mgmt0 only
			}
			if err := batch(gctx, "ip", n.Namespace, lines); err != nil {
				return fmt.Errorf("emulation: node %q: addresses: %w", n.ID, err)
			}
			if err := batch(gctx, "ip", n.Namespace, segmentBatch(n)); err != nil {
				return fmt.Errorf("emulation: node %q: segmentation: %w", n.ID, err)
			}
			if err := senderHost(gctx, n); err != nil {
				return fmt.Errorf("emulation: node %q: sender host: %w", n.ID, err)
			}
			if err := batch(gctx, "tc", n.Namespace, tcBatch(plan, n)); err != nil {
				return fmt.Errorf("emulation: node %q: shaping: %w", n.ID, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if agents {
		if err := b.startAgents(ctx, startAgents); err != nil {
			return err
		}
		g, gctx = errgroup.WithContext(ctx)
		g.SetLimit(max(2, runtime.NumCPU()*2))
		infos, err := b.Nodes(ctx)
		if err != nil {
			return err
		}
		for i := range nodes {
			n := &nodes[i]
			var ni NodeInfo
			for _, x := range infos {
				if x.ID == n.ID {
					ni = x
				}
			}
			g.Go(func() error {
				if len(n.Ifaces) == 0 {
					return nil
				}
				if err := b.Config.Push(gctx, ni, InterfaceRules(n)); err != nil {
					return fmt.Errorf("emulation: node %q: push interface addresses: %w", n.ID, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(max(2, runtime.NumCPU()*2))
	for i := range nodes {
		n := &nodes[i]
		g.Go(func() error {
			if err := batch(gctx, "ip", n.Namespace, append([]string{"route flush proto static"}, nodeRouteBatch(n)...)); err != nil {
				return fmt.Errorf("emulation: node %q: routes: %w", n.ID, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// InterfaceRules returns the OpenConfig config rules giving a node's data interfaces
// their lab addresses (what the backend pushes to node agents).
func InterfaceRules(n *PlanNode) []network.ConfigRule {
	rules := make([]network.ConfigRule, 0, len(n.Ifaces))
	for _, ifc := range n.Ifaces {
		a := ifc.Addr.Addr().String()
		rules = append(rules, network.ConfigRule{
			Action:      network.ConfigSet,
			ResourceKey: "/interfaces/interface[name=" + ifc.Name + "]/subinterfaces/subinterface[index=0]",
			ResourceValue: fmt.Sprintf(`{"index":0,"openconfig-if-ip:ipv4":{"addresses":{"address":[{"ip":%q,"config":{"ip":%q,"prefix-length":%d}}]}}}`,
				a, a, ifc.Addr.Bits()),
		})
	}
	return rules
}

// netemProbe reports whether the kernel offers netem, in a namespace <label>.~netem
// created for the check and deleted after it.
func netemProbe(ctx context.Context, label string) (bool, error) {
	ns := label + ".~netem"
	if _, err := runCmd(ctx, "", "ip", "netns", "add", ns); err != nil {
		return false, fmt.Errorf("emulation: netem check: %w", err)
	}
	ok := netemAvailable(ctx, ns)
	if _, err := runCmd(ctx, "", "ip", "netns", "del", ns); err != nil {
		return false, fmt.Errorf("emulation: netem check: %w", err)
	}
	return ok, nil
}

// startDelayLines brings up the delay namespaces of links (those that have one) and
// starts DelayCmd in each, logging to <state dir>/<namespace>.log, then waits until
// every line reports that its sockets are open.
func (b *Netns) startDelayLines(ctx context.Context, links []PlanLink) error {
	p := b.plan
	var logs []string
	for _, l := range links {
		if !p.delayed(l) {
			continue
		}
		ns := p.DelayNamespace(l)
		// No IPv6 of its own: link-local router solicitations would enter the link.
		if _, err := runCmd(ctx, "", "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
			return fmt.Errorf("emulation: link %q: delay namespace: %w", l.ID, err)
		}
		if err := batch(ctx, "ip", ns, []string{"link set dev lo up", "link set dev " + DelayIfA + " up", "link set dev " + DelayIfB + " up"}); err != nil {
			return fmt.Errorf("emulation: link %q: delay namespace: %w", l.ID, err)
		}
		delayUs := int64(math.Round(p.LinkDelayMs(l) * 1000))
		args := append([]string{"netns", "exec", ns}, b.DelayCmd...)
		args = append(args, "--a", DelayIfA, "--b", DelayIfB, "--delay", strconv.FormatInt(delayUs, 10)+"us")
		cmd := exec.Command("ip", args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		logPath := filepath.Join(b.stateDir(), ns+".log")
		logf, err := os.Create(logPath)
		if err != nil {
			return fmt.Errorf("emulation: link %q: delay line log: %w", l.ID, err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("%w: link %q: start delay line %v: %v", ErrCommand, l.ID, b.DelayCmd, err)
		}
		logf.Close()
		go func() { _ = cmd.Wait() }() // reap
		logs = append(logs, logPath)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, lp := range logs {
		for {
			out, _ := os.ReadFile(lp)
			if strings.Contains(string(out), delayline.ReadyLine) {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%w: delay line not ready (log %s: %s)", ErrCommand, lp, strings.TrimSpace(string(out)))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// netemAvailable reports whether the kernel offers netem, by adding (and removing) a
// netem qdisc on lo of a lab namespace.
func netemAvailable(ctx context.Context, ns string) bool {
	if _, err := runCmd(ctx, "", "tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "handle", "1:", "netem", "delay", "1ms"); err != nil {
		return false
	}
	_, _ = runCmd(ctx, "", "tc", "-n", ns, "qdisc", "del", "dev", "lo", "root")
	return true
}

func hasDelay(p *Plan) bool {
	for _, n := range p.Nodes {
		for _, i := range n.Ifaces {
			if i.DelayMs > 0 {
				return true
			}
		}
	}
	return false
}

// setSysctls enables forwarding and disables reverse-path filtering in a namespace.
// /proc/sys/net belongs to the network namespace of the thread that opens it, so the
// writes happen on a locked OS thread switched into the namespace.
func setSysctls(ns string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked (and so discarded by the runtime when this
		// goroutine ends) if switching back fails: it must never run other goroutines.
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("emulation: current netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("emulation: open netns %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("emulation: enter netns %s: %w", ns, err)
			return
		}
		var werr error
		for _, kv := range [][2]string{
			{"net/ipv4/ip_forward", "1"},
			{"net/ipv4/conf/all/rp_filter", "0"},
			{"net/ipv4/conf/default/rp_filter", "0"},
			{"net/ipv6/conf/all/forwarding", "1"},
		} {
			if err := os.WriteFile("/proc/sys/"+kv[0], []byte(kv[1]), 0o644); err != nil && werr == nil {
				werr = fmt.Errorf("emulation: netns %s: sysctl %s: %w", ns, kv[0], err)
			}
		}
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(werr, fmt.Errorf("emulation: leave netns %s: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- werr
	}()
	return <-errc
}

// startAgents starts NodeCmd in each node's namespace (if NodeCmd is set) as
// `NodeCmd --name <id> --ports <data ifaces> --gnmi-addr <mgmt>:9339` and waits until
// every agent accepts connections on its management address.
func (b *Netns) startAgents(ctx context.Context, nodes []PlanNode) error {
	if len(b.NodeCmd) == 0 {
		return nil
	}
	for _, n := range nodes {
		addr := netip.AddrPortFrom(n.MgmtAddr, GNMIPort).String()
		args := append([]string{"netns", "exec", n.Namespace}, b.NodeCmd...)
		args = append(args, "--name", n.ID, "--gnmi-addr", addr)
		if len(n.Ifaces) > 0 {
			ports := make([]string, len(n.Ifaces))
			for i, ifc := range n.Ifaces {
				ports[i] = ifc.Name
			}
			args = append(args, "--ports", strings.Join(ports, ","))
		}
		cmd := exec.Command("ip", args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		logPath := filepath.Join(b.stateDir(), b.plan.Options.Label()+"."+n.ID+".log")
		logf, err := os.Create(logPath)
		if err != nil {
			return fmt.Errorf("emulation: node %q: agent log: %w", n.ID, err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return fmt.Errorf("%w: node %q: start agent %v: %v", ErrCommand, n.ID, b.NodeCmd, err)
		}
		logf.Close()
		go func() { _ = cmd.Wait() }() // reap
		b.state.Agents = append(b.state.Agents, Agent{Node: n.ID, PID: cmd.Process.Pid})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range nodes {
		addr := netip.AddrPortFrom(n.MgmtAddr, GNMIPort).String()
		g.Go(func() error {
			deadline := time.Now().Add(15 * time.Second)
			for {
				var d net.Dialer
				c, err := d.DialContext(gctx, "tcp", addr)
				if err == nil {
					c.Close()
					return nil
				}
				if time.Now().After(deadline) || gctx.Err() != nil {
					logTail, _ := os.ReadFile(filepath.Join(b.stateDir(), b.plan.Options.Label()+"."+n.ID+".log"))
					return fmt.Errorf("%w: node %q: agent not reachable at %s: %v (log: %s)", ErrCommand, n.ID, addr, err, strings.TrimSpace(string(logTail)))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	return g.Wait()
}

// Reconfigure implements Backend.
func (b *Netns) Reconfigure(ctx context.Context, n *network.Network) error {
	if b.plan == nil {
		if err := b.Load(); err != nil {
			return err
		}
	}
	if err := requireRoot(); err != nil {
		return err
	}
	old := b.plan
	mgmtSlot := int((old.Mgmt.Prefix.Addr().As4()[2]) >> 4)
	if a := old.Mgmt.Prefix.Addr().As4(); a[1] == 19 {
		mgmtSlot += 16
	}
	plan, err := NewPlan(n, old.Options, old, mgmtSlot)
	if err != nil {
		return err
	}
	plan.Netem = old.Netem
	plan.DelayLine = old.DelayLine || (!plan.Netem && len(b.DelayCmd) > 0 && hasDelay(plan))
	oldNodes := map[string]PlanNode{}
	for _, x := range old.Nodes {
		oldNodes[x.ID] = x
	}
	newNodes := map[string]bool{}
	var added []PlanNode
	for _, x := range plan.Nodes {
		newNodes[x.ID] = true
		if _, ok := oldNodes[x.ID]; !ok {
			added = append(added, x)
		}
	}
	// Links are identified by ID and ends; anything else changed is recreated.
	oldLinks := map[string]PlanLink{}
	for _, l := range old.Links {
		oldLinks[l.ID] = l
	}
	newLinks := map[string]PlanLink{}
	var addLinks, retime []PlanLink
	for _, l := range plan.Links {
		newLinks[l.ID] = l
		if ol, ok := oldLinks[l.ID]; !ok || !sameLink(old, ol, plan, l) {
			addLinks = append(addLinks, l)
		} else if plan.delayed(l) && old.LinkDelayMs(ol) != plan.LinkDelayMs(l) {
			retime = append(retime, l)
		}
	}
	var del, delayNS []string
	for _, l := range old.Links {
		nl, ok := newLinks[l.ID]
		if ok && sameLink(old, l, plan, nl) {
			if slices.ContainsFunc(retime, func(x PlanLink) bool { return x.ID == l.ID }) {
				delayNS = append(delayNS, old.DelayNamespace(l)) // restarted below
			}
			continue
		}
		if old.delayed(l) {
			// Deleting the delay namespace deletes both veth pairs of the link.
			delayNS = append(delayNS, old.DelayNamespace(l))
			continue
		}
		if !newNodes[l.A] {
			continue // goes with its namespace
		}
		on := oldNodes[l.A]
		del = append(del, fmt.Sprintf("-n %s link del dev %s", on.Namespace, l.AIf))
	}
	var removed []PlanNode
	for _, x := range old.Nodes {
		if !newNodes[x.ID] {
			removed = append(removed, x)
		}
	}
	if err := killInNamespaces(ctx, delayNS); err != nil {
		return err
	}
	for _, ns := range delayNS {
		if !slices.ContainsFunc(retime, func(x PlanLink) bool { return plan.DelayNamespace(x) == ns }) {
			if _, err := runCmd(ctx, "", "ip", "netns", "del", ns); err != nil {
				return fmt.Errorf("emulation: reconfigure: %w", err)
			}
		}
	}
	for _, c := range del {
		if _, err := runCmd(ctx, "", "ip", strings.Fields(c)...); err != nil {
			return fmt.Errorf("emulation: reconfigure: %w", err)
		}
	}
	if err := removeNodes(ctx, removed); err != nil {
		return err
	}
	b.plan = plan
	b.state.Plan = plan
	var agents []Agent
	for _, a := range b.state.Agents {
		if newNodes[a.Node] {
			agents = append(agents, a)
		}
	}
	b.state.Agents = agents
	// Agents manage a fixed port list: restart those of nodes whose interfaces changed.
	restart := append([]PlanNode(nil), added...)
	for _, x := range plan.Nodes {
		on, ok := oldNodes[x.ID]
		if !ok || sameIfaces(on.Ifaces, x.Ifaces) {
			continue
		}
		restart = append(restart, x)
		kept := b.state.Agents[:0]
		for _, a := range b.state.Agents {
			if a.Node == x.ID {
				_ = syscall.Kill(-a.PID, syscall.SIGKILL)
				continue
			}
			kept = append(kept, a)
		}
		b.state.Agents = kept
	}
	if err := batch(ctx, "ip", "", ipLinkBatch(plan, added, addLinks, false)); err != nil {
		return fmt.Errorf("emulation: reconfigure: create links: %w", err)
	}
	if err := b.startDelayLines(ctx, append(addLinks, retime...)); err != nil {
		return err
	}
	// Reapply every node: addresses and routes are idempotent (replace), shaping is
	// replaced from the root down, so rates and slots follow the new plan.
	for i := range plan.Nodes {
		if _, ok := oldNodes[plan.Nodes[i].ID]; !ok {
			continue
		}
		var lines []string
		for _, ifc := range plan.Nodes[i].Ifaces {
			lines = append(lines, "qdisc del dev "+ifc.Name+" root")
		}
		// -force: interfaces created just now have no root qdisc to delete.
		if len(lines) > 0 {
			_, _ = runCmd(ctx, joinLines(lines), "tc", "-n", plan.Nodes[i].Namespace, "-force", "-batch", "-")
		}
	}
	if err := b.configureNodes(ctx, plan.Nodes, restart); err != nil {
		return err
	}
	return b.saveState()
}

// sameLink reports whether link a of plan pa and link b of plan pb are wired alike
// (same ends, interfaces and slot, both or neither through a delay line), so that the
// link can stay as it is.
func sameLink(pa *Plan, a PlanLink, pb *Plan, b PlanLink) bool {
	return a.A == b.A && a.B == b.B && a.AIf == b.AIf && a.BIf == b.BIf && a.Slot == b.Slot && pa.delayed(a) == pb.delayed(b)
}

func sameIfaces(a, b []PlanIface) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

// removeNodes kills processes in and deletes the namespaces of nodes.
func removeNodes(ctx context.Context, nodes []PlanNode) error {
	var errs []error
	for _, n := range nodes {
		if err := killInNamespaces(ctx, []string{n.Namespace}); err != nil {
			errs = append(errs, err)
		}
		if _, err := runCmd(ctx, "", "ip", "link", "del", "dev", n.MgmtHostIf); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
		if _, err := runCmd(ctx, "", "ip", "netns", "del", n.Namespace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Nodes implements Backend.
func (b *Netns) Nodes(ctx context.Context) ([]NodeInfo, error) {
	if b.plan == nil {
		if err := b.Load(); err != nil {
			return nil, err
		}
	}
	pids := map[string]int{}
	for _, a := range b.state.Agents {
		pids[a.Node] = a.PID
	}
	var out []NodeInfo
	for _, n := range b.plan.Nodes {
		ni := NodeInfo{ID: n.ID, Namespace: n.Namespace, Address: n.Addr.String(), MgmtAddress: n.MgmtAddr.String(), PID: pids[n.ID]}
		if len(b.NodeCmd) > 0 {
			ni.GNMIAddress = netip.AddrPortFrom(n.MgmtAddr, GNMIPort).String()
		}
		for _, ifc := range n.Ifaces {
			ni.Interfaces = append(ni.Interfaces, InterfaceInfo{Name: ifc.Name, EndPoint: ifc.EndPoint, Link: ifc.Link, Address: ifc.Addr.String(), Peer: ifc.Peer.String(), RateBps: ifc.RateBps})
		}
		out = append(out, ni)
	}
	return out, nil
}

// Destroy implements Backend.
func (b *Netns) Destroy(ctx context.Context) error {
	if err := requireRoot(); err != nil {
		return err
	}
	o, err := b.Options.withDefaults(0)
	if err != nil {
		return err
	}
	if b.state == nil {
		_ = b.Load() // absent state: sweep by label anyway
	}
	if b.state != nil {
		for _, a := range b.state.Agents {
			_ = syscall.Kill(-a.PID, syscall.SIGKILL)
		}
	}
	b.plan, b.state = nil, nil
	return Sweep(ctx, o.Label(), b.stateDir())
}

// Sweep removes every leftover of the lab with that label: processes running in its
// namespaces, the namespaces, root-namespace interfaces carrying its alias, agent logs
// and its state file. It is safe to call when nothing is left.
//
// Order matters for speed: processes are killed (one scan of /proc for all
// namespaces), then the namespaces are deleted in one batch, which lets the kernel
// destroy their veths together (a single cleanup with batched RCU waits, much faster
// than deleting veths one by one); the root-namespace ends vanish with their peers and
// are waited for, then the bridge and anything else still carrying the label go.
func Sweep(ctx context.Context, label, stateDir string) error {
	if err := requireRoot(); err != nil {
		return err
	}
	var errs []error
	nss, err := labNamespaces(ctx, label)
	if err != nil {
		errs = append(errs, err)
	}
	if err := killInNamespaces(ctx, nss); err != nil {
		errs = append(errs, err)
	}
	var lines []string
	for _, ns := range nss {
		lines = append(lines, "netns del "+ns)
	}
	if len(lines) > 0 {
		if _, err := runCmd(ctx, joinLines(lines), "ip", "-force", "-batch", "-"); err != nil {
			errs = append(errs, err)
		}
	}
	// Wait (bounded) for the veth ends to go with their namespaces, then delete what
	// remains: the bridge, and veths of namespaces that were already gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		links, err := labLinks(ctx, label)
		if err != nil {
			errs = append(errs, err)
			break
		}
		veths := 0
		for _, l := range links {
			if !strings.HasSuffix(l, "br") {
				veths++
			}
		}
		if veths == 0 || len(nss) == 0 || time.Now().After(deadline) {
			lines = lines[:0]
			for _, l := range links {
				lines = append(lines, "link del dev "+l)
			}
			if len(lines) > 0 {
				if _, err := runCmd(ctx, joinLines(lines), "ip", "-force", "-batch", "-"); err != nil {
					errs = append(errs, err)
				}
			}
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if stateDir != "" {
		matches, _ := filepath.Glob(filepath.Join(stateDir, label+".*"))
		for _, m := range matches {
			rest := strings.TrimPrefix(filepath.Base(m), label+".")
			if rest == "json" || rest == "json.tmp" || strings.HasSuffix(rest, ".log") {
				if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("emulation: sweep %s: %w", label, err)
	}
	return nil
}

// SweepPrefix sweeps every lab whose label starts with prefix (see Sweep): what a CI
// job or an operator runs to remove leftovers of all labs of one owner. It returns the
// labels it swept.
func SweepPrefix(ctx context.Context, prefix, stateDir string) ([]string, error) {
	if !prefixRE.MatchString(prefix) {
		return nil, fmt.Errorf("%w: prefix %q must match %s", ErrInvalid, prefix, prefixRE)
	}
	if err := requireRoot(); err != nil {
		return nil, err
	}
	// Labels are what precedes the first '.' of a namespace name (neither prefixes nor
	// lab names contain dots), the suffix of a labelled interface's alias, and the
	// names of state files.
	labels := map[string]bool{}
	nss, err := allNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		if i := strings.IndexByte(ns, '.'); i > 0 && strings.HasPrefix(ns, prefix) {
			labels[ns[:i]] = true
		}
	}
	out, err := runCmd(ctx, "", "ip", "-j", "link", "show")
	if err != nil {
		return nil, err
	}
	var links []struct {
		Alias string `json:"ifalias"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("%w: ip -j link show: %v", ErrCommand, err)
	}
	for _, l := range links {
		if label, ok := strings.CutPrefix(l.Alias, aliasFor("")); ok && strings.HasPrefix(label, prefix) {
			labels[label] = true
		}
	}
	if stateDir != "" {
		files, _ := filepath.Glob(filepath.Join(stateDir, prefix+"*.json"))
		for _, f := range files {
			labels[strings.TrimSuffix(filepath.Base(f), ".json")] = true
		}
	}
	var swept []string
	var errs []error
	for label := range labels {
		if err := Sweep(ctx, label, stateDir); err != nil {
			errs = append(errs, err)
		}
		swept = append(swept, label)
	}
	sort.Strings(swept)
	return swept, errors.Join(errs...)
}

func allNamespaces(ctx context.Context) ([]string, error) {
	out, err := runCmd(ctx, "", "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var nss []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			nss = append(nss, f[0])
		}
	}
	return nss, nil
}

// nsInode returns the inode of a named network namespace (/run/netns/<name>).
func nsInode(name string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+name, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// pidsIn scans /proc once and returns the processes whose network namespace is one of
// inodes.
func pidsIn(inodes map[uint64]bool) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		link, err := os.Readlink("/proc/" + e.Name() + "/ns/net")
		if err != nil {
			continue
		}
		var ino uint64
		if _, err := fmt.Sscanf(link, "net:[%d]", &ino); err == nil && inodes[ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killInNamespaces kills (SIGKILL) every process in the namespaces and waits until none
// is left (zombies of other parents count as gone).
func killInNamespaces(ctx context.Context, nss []string) error {
	inodes := map[uint64]bool{}
	for _, ns := range nss {
		if ino, err := nsInode(ns); err == nil {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	for attempt := 0; attempt < 250; attempt++ {
		pids := pidsIn(inodes)
		alive := 0
		for _, pid := range pids {
			if isZombie(pid) {
				continue
			}
			alive++
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if alive == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(4 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w: processes survive in namespaces %v", ErrCommand, nss)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// labNamespaces lists the namespaces of the lab (named label.<node>).
func labNamespaces(ctx context.Context, label string) ([]string, error) {
	out, err := runCmd(ctx, "", "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var nss []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], label+".") {
			nss = append(nss, f[0])
		}
	}
	return nss, nil
}

// LabNamespaces lists the network namespaces carrying the lab label (for checks).
func LabNamespaces(ctx context.Context, label string) ([]string, error) {
	return labNamespaces(ctx, label)
}

// LabLinks lists the root-namespace interfaces carrying the lab label (for checks).
func LabLinks(ctx context.Context, label string) ([]string, error) { return labLinks(ctx, label) }

func labLinks(ctx context.Context, label string) ([]string, error) {
	out, err := runCmd(ctx, "", "ip", "-j", "link", "show")
	if err != nil {
		return nil, err
	}
	var links []struct {
		Name  string `json:"ifname"`
		Alias string `json:"ifalias"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("%w: ip -j link show: %v", ErrCommand, err)
	}
	var names []string
	want := aliasFor(label)
	// Bridges last: deleting ports first keeps the batch from racing the bridge.
	var bridges []string
	for _, l := range links {
		if l.Alias != want {
			continue
		}
		if strings.HasSuffix(l.Name, "br") {
			bridges = append(bridges, l.Name)
			continue
		}
		names = append(names, l.Name)
	}
	return append(names, bridges...), nil
}

// MgmtLockPath is the host-wide lock serialising management subnet allocation.
const MgmtLockPath = "/run/twinflow-lab-mgmt.lock"

func lockMgmt() (func(), error) {
	f, err := os.OpenFile(MgmtLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("emulation: management lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("emulation: management lock: %w", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// freeMgmtSlot picks the management /20 for a lab: the slot its label hashes to, or the
// next one not already assigned to an interface of the root namespace.
func freeMgmtSlot(ctx context.Context, label string) (int, error) {
	out, err := runCmd(ctx, "", "ip", "-j", "-4", "addr", "show")
	if err != nil {
		return 0, err
	}
	var ifs []struct {
		Addrs []struct {
			Local  string `json:"local"`
			Prefix int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &ifs); err != nil {
		return 0, fmt.Errorf("%w: ip -j addr show: %v", ErrCommand, err)
	}
	mgmt := netip.PrefixFrom(mgmt4Base, 15)
	used := map[int]bool{}
	for _, i := range ifs {
		for _, a := range i.Addrs {
			ad, err := netip.ParseAddr(a.Local)
			if err != nil || !mgmt.Contains(ad) {
				continue
			}
			b := ad.As4()
			used[(int(b[1]-18)<<4)|int(b[2]>>4)] = true
		}
	}
	h, _ := strconv.ParseUint(shortHash(label), 16, 32)
	for k := 0; k < mgmtSlots; k++ {
		s := (int(h) + k) % mgmtSlots
		if !used[s] {
			return s, nil
		}
	}
	return 0, fmt.Errorf("%w: all %d management subnets of 198.18.0.0/15 are in use", ErrUnavailable, mgmtSlots)
}

// senderHost creates the node's sender host namespace (Options.SenderHosts) with an
// unshaped veth to the node ("h0" there, "hst" in the node) unless it exists, and
// (re)applies its address and routes: the node's address on the link, default via it.
func senderHost(ctx context.Context, n *PlanNode) error {
	if n.HostNamespace == "" {
		return nil
	}
	if _, err := os.Stat("/run/netns/" + n.HostNamespace); err != nil {
		if err := batch(ctx, "ip", "", []string{
			"netns add " + n.HostNamespace,
			fmt.Sprintf("link add name hst netns %s type veth peer name h0 netns %s", n.Namespace, n.HostNamespace),
		}); err != nil {
			return err
		}
	}
	if err := batch(ctx, "ip", n.HostNamespace, []string{
		"link set dev lo up",
		fmt.Sprintf("addr replace %s/32 dev h0", n.HostAddr),
		"link set dev h0 gso_max_segs 1",
		"link set dev h0 up",
		fmt.Sprintf("route replace %s/32 dev h0 scope link", n.Addr),
		fmt.Sprintf("route replace default via %s dev h0 src %s onlink", n.Addr, n.HostAddr),
	}); err != nil {
		return err
	}
	return batch(ctx, "ip", n.Namespace, []string{
		"link set dev hst gso_max_segs 1",
		"link set dev hst up",
		fmt.Sprintf("route replace %s/32 dev hst scope link src %s", n.HostAddr, n.Addr),
	})
}
