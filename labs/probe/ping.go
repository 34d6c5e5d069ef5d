package probe

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"sort"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// PingResult is the JSON result of `probe ping`.
type PingResult struct {
	Kind     string  `json:"kind"`
	Dst      string  `json:"dst"`
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	LossPct  float64 `json:"loss_pct"`
	// RTTs in milliseconds over the received replies (zero when none arrived).
	RTTMinMs    float64 `json:"rtt_min_ms"`
	RTTAvgMs    float64 `json:"rtt_avg_ms"`
	RTTMedianMs float64 `json:"rtt_median_ms"`
	RTTMaxMs    float64 `json:"rtt_max_ms"`
	// Error describes why no reply arrived, if so (e.g. "timeout").
	Error string `json:"error,omitempty"`
}

// PingOptions configures Ping.
type PingOptions struct {
	Dst netip.Addr
	// Src, if valid, is the source address (default: chosen by the routing table).
	Src      netip.Addr
	Count    int
	Interval time.Duration
	// Timeout bounds the wait for each reply.
	Timeout time.Duration
}

func runPing(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ping", stderr)
	dst := fs.String("dst", "", "destination IP address (required)")
	count := fs.Int("count", 3, "echo requests to send (1..10000)")
	interval := fs.Duration("interval", 200*time.Millisecond, "time between requests")
	timeout := fs.Duration("timeout", time.Second, "wait for each reply")
	src := fs.String("src", "", "source IP address (default: from the routing table)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var srcAddr netip.Addr
	if *src != "" {
		a, err := netip.ParseAddr(*src)
		if err != nil {
			return fmt.Errorf("%w: ping: --src %q is not an IP address", ErrUsage, *src)
		}
		srcAddr = a.Unmap()
	}
	if *dst == "" {
		return fmt.Errorf("%w: ping: --dst is required", ErrUsage)
	}
	addr, err := netip.ParseAddr(*dst)
	if err != nil {
		return fmt.Errorf("%w: ping: --dst %q is not an IP address", ErrUsage, *dst)
	}
	if *count < 1 || *count > 10000 {
		return fmt.Errorf("%w: ping: --count %d out of range 1..10000", ErrUsage, *count)
	}
	if *interval < 0 || *timeout <= 0 {
		return fmt.Errorf("%w: ping: --interval must be >= 0 and --timeout > 0", ErrUsage)
	}
	res, err := Ping(ctx, PingOptions{Dst: addr.Unmap(), Src: srcAddr, Count: *count, Interval: *interval, Timeout: *timeout})
	if werr := writeJSON(stdout, res); werr != nil {
		return werr
	}
	return err
}

// Ping sends ICMP echo requests and reports loss and round-trip times. It uses a raw
// ICMP socket when running as root and an unprivileged ICMP datagram socket otherwise.
// It returns ErrUnreachable (with a filled result) if no reply arrived.
func Ping(ctx context.Context, o PingOptions) (PingResult, error) {
	res := PingResult{Kind: KindPing, Dst: o.Dst.String()}
	if !o.Dst.IsValid() {
		return res, fmt.Errorf("%w: ping: invalid destination", ErrUsage)
	}
	if o.Count <= 0 {
		o.Count = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	v6 := o.Dst.Is6()
	network, listen, proto := "ip4:icmp", "0.0.0.0", 1
	var echoType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if v6 {
		network, listen, proto = "ip6:ipv6-icmp", "::", 58
		echoType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	privileged := os.Geteuid() == 0
	if !privileged {
		network = "udp4"
		if v6 {
			network = "udp6"
		}
	}
	if o.Src.IsValid() {
		if o.Src.Is6() != v6 {
			return res, fmt.Errorf("%w: ping: --src %s and --dst %s are of different families", ErrUsage, o.Src, o.Dst)
		}
		listen = o.Src.String()
	}
	conn, err := icmp.ListenPacket(network, listen)
	if err != nil {
		return res, fmt.Errorf("probe: ping: open icmp socket: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	var dstAddr net.Addr = &net.IPAddr{IP: o.Dst.AsSlice()}
	if !privileged {
		dstAddr = &net.UDPAddr{IP: o.Dst.AsSlice()}
	}
	id := os.Getpid() & 0xffff
	var rtts []float64
	buf := make([]byte, 1500)
	for seq := 0; seq < o.Count; seq++ {
		if seq > 0 && o.Interval > 0 {
			select {
			case <-ctx.Done():
				return finishPing(res, rtts, ctx.Err())
			case <-time.After(o.Interval):
			}
		}
		if ctx.Err() != nil {
			return finishPing(res, rtts, ctx.Err())
		}
		msg := icmp.Message{Type: echoType, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("twinflow-probe")}}
		wb, err := msg.Marshal(nil)
		if err != nil {
			return res, fmt.Errorf("probe: ping: marshal: %w", err)
		}
		start := time.Now()
		if _, err := conn.WriteTo(wb, dstAddr); err != nil {
			res.Sent++
			res.Error = err.Error()
			continue
		}
		res.Sent++
		deadline := start.Add(o.Timeout)
		_ = conn.SetReadDeadline(deadline)
		for {
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				if ctx.Err() != nil {
					return finishPing(res, rtts, ctx.Err())
				}
				res.Error = "timeout"
				break
			}
			rm, err := icmp.ParseMessage(proto, buf[:n])
			if err != nil || rm.Type != replyType {
				continue
			}
			echo, ok := rm.Body.(*icmp.Echo)
			if !ok || echo.Seq != seq || (privileged && echo.ID != id) {
				continue
			}
			if !sameHost(peer, o.Dst) {
				continue
			}
			rtts = append(rtts, float64(time.Since(start).Microseconds())/1000)
			break
		}
	}
	return finishPing(res, rtts, nil)
}

func sameHost(a net.Addr, want netip.Addr) bool {
	var ip net.IP
	switch v := a.(type) {
	case *net.IPAddr:
		ip = v.IP
	case *net.UDPAddr:
		ip = v.IP
	default:
		return false
	}
	got, ok := netip.AddrFromSlice(ip)
	return ok && got.Unmap() == want.Unmap()
}

func finishPing(res PingResult, rtts []float64, ctxErr error) (PingResult, error) {
	res.Received = len(rtts)
	if res.Sent > 0 {
		res.LossPct = 100 * float64(res.Sent-res.Received) / float64(res.Sent)
	}
	if len(rtts) > 0 {
		res.Error = ""
		sorted := append([]float64(nil), rtts...)
		sort.Float64s(sorted)
		res.RTTMinMs, res.RTTMaxMs = sorted[0], sorted[len(sorted)-1]
		sum := 0.0
		for _, r := range sorted {
			sum += r
		}
		res.RTTAvgMs = round3(sum / float64(len(sorted)))
		if n := len(sorted); n%2 == 1 {
			res.RTTMedianMs = sorted[n/2]
		} else {
			res.RTTMedianMs = round3((sorted[n/2-1] + sorted[n/2]) / 2)
		}
	}
	if ctxErr != nil {
		return res, fmt.Errorf("probe: ping %s: %w", res.Dst, ctxErr)
	}
	if res.Received == 0 {
		if res.Error == "" {
			res.Error = "no reply"
		}
		return res, fmt.Errorf("%w: ping %s: %d sent, 0 received (%s)", ErrUnreachable, res.Dst, res.Sent, res.Error)
	}
	return res, nil
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
