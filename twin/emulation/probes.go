package emulation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twinflow/twinflow/labs/probe"
)

// ProbeSpec asks for one probe.
type ProbeSpec struct {
	// ID labels the probe (e.g. the flow ID); echoed in the result.
	ID   string    `json:"id"`
	Kind ProbeKind `json:"kind"`
	// Src and Dst are device IDs. DstAddr, if set, overrides the destination address
	// (default: Dst's node address).
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	DstAddr string `json:"dst_addr,omitempty"`
	// SrcPort and DstPort (l2-ping) are interfaces of Src and Dst: the attachments
	// whose far sides ping each other.
	SrcPort string `json:"src_port,omitempty"`
	DstPort string `json:"dst_port,omitempty"`
	// Ping: echo requests (default 3) and per-reply timeout (default 1s).
	Count   int           `json:"count,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"`
	// TCP: congestion control (default cubic), sending time (default 10s) and the
	// initial part of it excluded from the measurement (default 0).
	CC       string        `json:"cc,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	Warmup   time.Duration `json:"warmup,omitempty"`
}

// ProbeResult is the outcome of one probe.
type ProbeResult struct {
	ID   string    `json:"id"`
	Kind ProbeKind `json:"kind"`
	Src  string    `json:"src"`
	Dst  string    `json:"dst"`
	// OK says whether the probe succeeded (echo replies arrived, TCP data flowed).
	OK bool `json:"ok"`
	// Error explains a failure; Evidence holds the probe's raw output.
	Error    string                 `json:"error,omitempty"`
	Evidence string                 `json:"evidence,omitempty"`
	Ping     *probe.PingResult      `json:"ping,omitempty"`
	TCP      *probe.TCPClientResult `json:"tcp,omitempty"`
}

func (s ProbeSpec) validate(i int, p *Plan) error {
	if _, ok := p.Node(s.Src); !ok {
		return fmt.Errorf("%w: probes[%d] %q: unknown src node %q", ErrInvalid, i, s.ID, s.Src)
	}
	if s.DstAddr != "" {
		if _, err := netip.ParseAddr(s.DstAddr); err != nil {
			return fmt.Errorf("%w: probes[%d] %q: dst_addr %q is not an IP address", ErrInvalid, i, s.ID, s.DstAddr)
		}
		if s.Kind == ProbeTCP && s.Dst == "" {
			return fmt.Errorf("%w: probes[%d] %q: tcp probes need a dst node (the server runs there)", ErrInvalid, i, s.ID)
		}
	}
	if s.Dst != "" || s.DstAddr == "" {
		if _, ok := p.Node(s.Dst); !ok {
			return fmt.Errorf("%w: probes[%d] %q: unknown dst node %q", ErrInvalid, i, s.ID, s.Dst)
		}
	}
	switch s.Kind {
	case ProbeL2Ping:
		if s.DstAddr != "" {
			return fmt.Errorf("%w: probes[%d] %q: l2-ping probes take no dst_addr", ErrInvalid, i, s.ID)
		}
		for _, e := range []struct{ node, port string }{{s.Src, s.SrcPort}, {s.Dst, s.DstPort}} {
			if _, _, err := p.attached(e.node, e.port); err != nil {
				return fmt.Errorf("%w: probes[%d] %q: %v", ErrInvalid, i, s.ID, err)
			}
		}
		if s.Src == s.Dst && s.SrcPort == s.DstPort {
			return fmt.Errorf("%w: probes[%d] %q: both ends are %s:%s", ErrInvalid, i, s.ID, s.Src, s.SrcPort)
		}
		fallthrough
	case ProbePing:
		if s.Count < 0 || s.Count > 10000 {
			return fmt.Errorf("%w: probes[%d] %q: count %d out of range 0..10000", ErrInvalid, i, s.ID, s.Count)
		}
		if s.Timeout < 0 {
			return fmt.Errorf("%w: probes[%d] %q: negative timeout", ErrInvalid, i, s.ID)
		}
	case ProbeTCP:
		if s.CC != "" && s.CC != "cubic" && s.CC != "bbr" && s.CC != "reno" {
			return fmt.Errorf("%w: probes[%d] %q: cc %q (want cubic, bbr or reno)", ErrInvalid, i, s.ID, s.CC)
		}
		if s.Duration < 0 || s.Duration > time.Hour || s.Warmup < 0 || (s.Duration > 0 && s.Warmup >= s.Duration) {
			return fmt.Errorf("%w: probes[%d] %q: duration %v / warmup %v out of range", ErrInvalid, i, s.ID, s.Duration, s.Warmup)
		}
	default:
		return fmt.Errorf("%w: probes[%d] %q: kind %q (want ping, tcp or l2-ping)", ErrInvalid, i, s.ID, s.Kind)
	}
	return nil
}

// Probe implements Backend. TCP probe i (counting TCP probes only) uses flow slot i, so
// in the fq model it gets its own HTB class on every link.
func (b *Netns) Probe(ctx context.Context, specs []ProbeSpec) ([]ProbeResult, error) {
	if b.plan == nil {
		if err := b.Load(); err != nil {
			return nil, err
		}
	}
	if err := requireRoot(); err != nil {
		return nil, err
	}
	if len(b.ProbeCmd) == 0 {
		return nil, fmt.Errorf("%w: no probe command configured (twinflow-node probe)", ErrUnavailable)
	}
	p := b.plan
	tcp := 0
	for i, s := range specs {
		if err := s.validate(i, p); err != nil {
			return nil, err
		}
		if s.Kind == ProbeTCP {
			tcp++
		}
	}
	if tcp > p.Options.FlowSlots {
		return nil, fmt.Errorf("%w: %d tcp probes, the lab has %d flow slots", ErrInvalid, tcp, p.Options.FlowSlots)
	}
	results := make([]ProbeResult, len(specs))
	// Start every TCP sink first.
	type server struct {
		cmd *exec.Cmd
		out *bytes.Buffer
	}
	servers := make([]*server, len(specs))
	defer func() {
		for _, s := range servers {
			if s != nil && s.cmd.Process != nil {
				_ = s.cmd.Process.Kill()
				_ = s.cmd.Wait()
			}
		}
	}()
	slot := 0
	slots := make([]int, len(specs))
	for i, s := range specs {
		if s.Kind != ProbeTCP {
			continue
		}
		slots[i] = slot
		slot++
		dst, _ := p.Node(s.Dst)
		addr := dst.Addr.String()
		if s.DstAddr != "" {
			addr = s.DstAddr
		}
		listen := netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(ProbePortBase+slots[i])).String()
		args := append(append([]string{"netns", "exec", dst.Namespace}, b.ProbeCmd...), "tcp-server", "--listen", listen, "--max-conns", "1")
		cmd := exec.Command("ip", args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("%w: start tcp-server in %s: %v", ErrProbe, dst.Namespace, err)
		}
		servers[i] = &server{cmd: cmd, out: &out}
	}
	var wg sync.WaitGroup
	l2 := 0
	for i, s := range specs {
		if s.Kind == ProbeL2Ping {
			if l2 >= maxL2Probes {
				return nil, fmt.Errorf("%w: more than %d l2-ping probes at once", ErrInvalid, maxL2Probes)
			}
			slots[i] = l2
			l2++
		}
	}
	for i, s := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Kind == ProbeL2Ping {
				results[i] = b.runL2Ping(ctx, s, slots[i])
				return
			}
			results[i] = b.runProbe(ctx, s, slots[i])
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProbe, err)
	}
	return results, nil
}

func (b *Netns) runProbe(ctx context.Context, s ProbeSpec, slot int) ProbeResult {
	p := b.plan
	src, _ := p.Node(s.Src)
	r := ProbeResult{ID: s.ID, Kind: s.Kind, Src: s.Src, Dst: s.Dst}
	addr := s.DstAddr
	if addr == "" {
		dst, _ := p.Node(s.Dst)
		addr = dst.Addr.String()
	}
	args := append([]string{"netns", "exec", src.Namespace}, b.ProbeCmd...)
	switch s.Kind {
	case ProbePing:
		args = append(args, pingArgs(s, addr, src.Addr.String())...)
	case ProbeTCP:
		cc, dur := s.CC, s.Duration
		if cc == "" {
			cc = "cubic"
		}
		if dur == 0 {
			dur = 10 * time.Second
		}
		dst := netip.AddrPortFrom(netip.MustParseAddr(addr), uint16(ProbePortBase+slot)).String()
		from := src.Addr
		if src.HostNamespace != "" {
			// Send from the node's sender host, so that the first queue is a router's.
			args = append([]string{"netns", "exec", src.HostNamespace}, b.ProbeCmd...)
			from = src.HostAddr
		}
		args = append(args, "tcp-client", "--dst", dst, "--src", from.String(), "--cc", cc, "--duration", dur.String(), "--warmup", s.Warmup.String(), "--id", s.ID)
	}
	out, errb, runErr, err := runProbeCmd(ctx, &r, args)
	if err != nil {
		r.Error = fmt.Sprintf("run probe: %v", err)
		return r
	}
	switch s.Kind {
	case ProbePing:
		var pr probe.PingResult
		if err := json.Unmarshal(bytes.TrimSpace(out), &pr); err != nil {
			r.Error = fmt.Sprintf("probe output: %v", err)
			return r
		}
		r.Ping = &pr
		r.OK = runErr == nil && pr.Received > 0
		if !r.OK {
			r.Error = fmt.Sprintf("ping %s from %s: %d sent, %d received (%s)", addr, s.Src, pr.Sent, pr.Received, pr.Error)
		}
	case ProbeTCP:
		if runErr != nil {
			r.Error = strings.TrimSpace(string(errb))
			if r.Error == "" {
				r.Error = runErr.Error()
			}
			return r
		}
		var tr probe.TCPClientResult
		if err := json.Unmarshal(bytes.TrimSpace(out), &tr); err != nil {
			r.Error = fmt.Sprintf("probe output: %v", err)
			return r
		}
		r.TCP = &tr
		r.OK = tr.BytesAcked > 0
		if !r.OK {
			r.Error = fmt.Sprintf("tcp %s -> %s: no data acknowledged", s.Src, addr)
		}
	}
	return r
}

// maxL2Probes bounds the l2-ping probes of one Probe call (each gets a /24 of
// 10.96.0.0/16).
const maxL2Probes = 256

// attached returns the node and interface on the far side of node's interface port
// (the link's other end): where an attachment's test host goes.
func (p *Plan) attached(node, port string) (*PlanNode, string, error) {
	nd, ok := p.Node(node)
	if !ok {
		return nil, "", fmt.Errorf("unknown node %q", node)
	}
	for _, ifc := range nd.Ifaces {
		if ifc.Name == port || ifc.EndPoint == port {
			peer, _ := p.Node(ifc.PeerNode)
			l := p.link(ifc.Link)
			peerIf := l.AIf
			if l.A != ifc.PeerNode || (l.A == l.B) {
				peerIf = l.BIf
			}
			return peer, peerIf, nil
		}
	}
	return nil, "", fmt.Errorf("%s:%s is attached to no device in the lab (no link at that interface)", node, port)
}

// runL2Ping runs one l2-ping probe (slot k: subnet 10.96.k.0/24): a test host namespace
// per end, with a macvlan of the far-side device's interface (so its frames enter the
// attachment as that device's would), addresses .1 and .2, no gateway; the first pings
// the second. The namespaces go when the probe ends.
func (b *Netns) runL2Ping(ctx context.Context, s ProbeSpec, k int) ProbeResult {
	p := b.plan
	r := ProbeResult{ID: s.ID, Kind: s.Kind, Src: s.Src + ":" + s.SrcPort, Dst: s.Dst + ":" + s.DstPort}
	sub := addrAdd(l2Probe4Base, uint32(k)<<8)
	srcAddr, dstAddr := addrAdd(sub, 1), addrAdd(sub, 2)
	type end struct {
		ns, ifname string
		addr       netip.Addr
		node, port string
	}
	ends := []end{
		{ns: fmt.Sprintf("%s.~l2p%da", p.Options.Label(), k), ifname: fmt.Sprintf("l2p%da", k), addr: srcAddr, node: s.Src, port: s.SrcPort},
		{ns: fmt.Sprintf("%s.~l2p%db", p.Options.Label(), k), ifname: fmt.Sprintf("l2p%db", k), addr: dstAddr, node: s.Dst, port: s.DstPort},
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, e := range ends {
			_, _ = runCmd(cctx, "", "ip", "netns", "del", e.ns)
		}
	}()
	for _, e := range ends {
		peer, peerIf, err := p.attached(e.node, e.port)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		for _, c := range []string{
			"netns add " + e.ns,
			fmt.Sprintf("-n %s link add link %s name %s type macvlan mode bridge", peer.Namespace, peerIf, e.ifname),
			fmt.Sprintf("-n %s link set dev %s netns %s", peer.Namespace, e.ifname, e.ns),
			fmt.Sprintf("-n %s link set dev lo up", e.ns),
			fmt.Sprintf("-n %s addr add %s/24 dev %s", e.ns, e.addr, e.ifname),
			fmt.Sprintf("-n %s link set dev %s up", e.ns, e.ifname),
		} {
			if _, err := runCmd(ctx, "", "ip", strings.Fields(c)...); err != nil {
				r.Error = fmt.Sprintf("test host behind %s:%s (on %s %s): %v", e.node, e.port, peer.ID, peerIf, err)
				return r
			}
		}
	}
	args := append([]string{"netns", "exec", ends[0].ns}, b.ProbeCmd...)
	args = append(args, pingArgs(s, dstAddr.String(), srcAddr.String())...)
	out, _, runErr, err := runProbeCmd(ctx, &r, args)
	if err != nil {
		r.Error = fmt.Sprintf("run probe: %v", err)
		return r
	}
	var pr probe.PingResult
	if err := json.Unmarshal(bytes.TrimSpace(out), &pr); err != nil {
		r.Error = fmt.Sprintf("probe output: %v", err)
		return r
	}
	r.Ping = &pr
	r.OK = runErr == nil && pr.Received > 0
	if !r.OK {
		r.Error = fmt.Sprintf("test host behind %s pinged the one behind %s (%s -> %s, one subnet, no gateway): %d sent, %d received (%s)",
			r.Src, r.Dst, srcAddr, dstAddr, pr.Sent, pr.Received, pr.Error)
	}
	return r
}

// pingArgs is the probe command's ping to dst from src, with the spec's count (3 by
// default) and per-reply timeout (1 s by default), 100 ms apart.
func pingArgs(s ProbeSpec, dst, src string) []string {
	count, timeout := s.Count, s.Timeout
	if count == 0 {
		count = 3
	}
	if timeout == 0 {
		timeout = time.Second
	}
	return []string{"ping", "--dst", dst, "--src", src, "--count", strconv.Itoa(count), "--interval", "100ms", "--timeout", timeout.String()}
}

// runProbeCmd runs `ip args...` (a probe command in a namespace), killed with this
// process, and puts its stdout and stderr in r.Evidence. exitErr is its non-zero
// exit (a probe that fails still reports through its output); err means it could
// not run at all.
func runProbeCmd(ctx context.Context, r *ProbeResult, args []string) (stdout, stderr []byte, exitErr, err error) {
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	r.Evidence = strings.TrimSpace(out.String() + "\n" + errb.String())
	var ee *exec.ExitError
	if runErr != nil && !errors.As(runErr, &ee) {
		return nil, nil, nil, runErr
	}
	return out.Bytes(), errb.Bytes(), runErr, nil
}
