package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// TCPClientResult is the JSON result of `probe tcp-client`.
type TCPClientResult struct {
	Kind string `json:"kind"`
	// ID is the caller's label for the flow (--id), echoed back.
	ID  string `json:"id,omitempty"`
	Dst string `json:"dst"`
	// CC is the congestion control the kernel actually used on the socket.
	CC string `json:"cc"`
	// Seconds is the length of the measurement window (duration minus warmup).
	Seconds float64 `json:"seconds"`
	// BytesAcked is the payload acknowledged by the receiver within the window.
	BytesAcked uint64 `json:"bytes_acked"`
	// GoodputBps is BytesAcked*8/Seconds: application payload delivered, bits/s.
	GoodputBps float64 `json:"goodput_bps"`
	// RTTMs and MinRTTMs are the kernel's smoothed and minimum RTT at the end.
	RTTMs    float64 `json:"rtt_ms"`
	MinRTTMs float64 `json:"min_rtt_ms"`
	// MeanRTTMs is the mean of the kernel's smoothed RTT sampled every RTTSampleInterval
	// over the measurement window (RTTSamples samples): RTT under load averaged over
	// the congestion-control cycle, where RTTMs is one point of it (a CUBIC sawtooth
	// of a few seconds moves it by ±15%).
	MeanRTTMs  float64 `json:"mean_rtt_ms"`
	RTTSamples int     `json:"rtt_samples"`
	// Retransmits counts retransmitted segments over the whole connection.
	Retransmits uint32 `json:"retransmits"`
	// WindowRetransmits and WindowDataSegments count retransmitted and all data
	// segments sent within the measurement window: their ratio estimates the loss
	// rate the flow saw.
	WindowRetransmits  uint32 `json:"window_retransmits"`
	WindowDataSegments uint32 `json:"window_data_segments"`
	// MSS is the sender's maximum segment size (bytes).
	MSS uint32 `json:"mss"`
}

// TCPServerResult is one JSON line of `probe tcp-server`, printed per finished connection.
type TCPServerResult struct {
	Kind       string  `json:"kind"`
	Remote     string  `json:"remote"`
	Bytes      uint64  `json:"bytes"`
	Seconds    float64 `json:"seconds"`
	GoodputBps float64 `json:"goodput_bps"`
}

// TCPClientOptions configures TCPClient.
type TCPClientOptions struct {
	ID  string
	Dst string // host:port
	// Src, if set, is the local IP address to send from.
	Src      string
	CC       string // cubic, bbr or reno
	Duration time.Duration
	// Warmup is excluded from the measurement window (slow start, convergence).
	Warmup time.Duration
	// ConnectTimeout bounds retries while the server is not yet listening.
	ConnectTimeout time.Duration
}

func runTCPClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tcp-client", stderr)
	o := TCPClientOptions{}
	fs.StringVar(&o.Dst, "dst", "", "server address host:port (required)")
	fs.StringVar(&o.CC, "cc", "cubic", "congestion control: "+ccList())
	fs.StringVar(&o.ID, "id", "", "label echoed in the result")
	fs.StringVar(&o.Src, "src", "", "local IP address to send from (default: from the routing table)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "total sending time")
	fs.DurationVar(&o.Warmup, "warmup", 0, "initial part of --duration excluded from the measurement")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", 5*time.Second, "keep retrying the connection this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	res, err := TCPClient(ctx, o)
	if err != nil {
		return err
	}
	return writeJSON(stdout, res)
}

func (o TCPClientOptions) validate() error {
	if o.Dst == "" {
		return fmt.Errorf("%w: tcp-client: --dst is required", ErrUsage)
	}
	if _, _, err := net.SplitHostPort(o.Dst); err != nil {
		return fmt.Errorf("%w: tcp-client: --dst %q: %v", ErrUsage, o.Dst, err)
	}
	if o.Src != "" {
		if _, err := netip.ParseAddr(o.Src); err != nil {
			return fmt.Errorf("%w: tcp-client: --src %q is not an IP address", ErrUsage, o.Src)
		}
	}
	if !validCC(o.CC) {
		return fmt.Errorf("%w: tcp-client: --cc %q is not one of %s", ErrUsage, o.CC, ccList())
	}
	if o.Duration <= 0 || o.Duration > 24*time.Hour {
		return fmt.Errorf("%w: tcp-client: --duration %v out of range (0, 24h]", ErrUsage, o.Duration)
	}
	if o.Warmup < 0 || o.Warmup >= o.Duration {
		return fmt.Errorf("%w: tcp-client: --warmup %v must be >= 0 and < --duration %v", ErrUsage, o.Warmup, o.Duration)
	}
	if o.ConnectTimeout < 0 {
		return fmt.Errorf("%w: tcp-client: --connect-timeout must be >= 0", ErrUsage)
	}
	return nil
}

// TCPClient connects to a TCP sink with the chosen congestion control, sends as fast as
// the network allows for o.Duration and reports the goodput acknowledged by the receiver
// in the window after o.Warmup (from the kernel's TCP_INFO, so data still sitting in the
// socket buffer is not counted).
func TCPClient(ctx context.Context, o TCPClientOptions) (TCPClientResult, error) {
	res := TCPClientResult{Kind: KindTCPClient, ID: o.ID, Dst: o.Dst}
	if err := o.validate(); err != nil {
		return res, err
	}
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, o.CC)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("set TCP_CONGESTION %s: %w", o.CC, serr)
		}
		return nil
	}}
	if o.Src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.IP(netip.MustParseAddr(o.Src).AsSlice())}
	}
	var conn net.Conn
	deadline := time.Now().Add(o.ConnectTimeout)
	for {
		var err error
		conn, err = d.DialContext(ctx, "tcp", o.Dst)
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) || !errors.Is(err, syscall.ECONNREFUSED) {
			return res, fmt.Errorf("probe: tcp-client: connect %s: %w", o.Dst, err)
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("probe: tcp-client: connect %s: %w", o.Dst, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer conn.Close()
	tc := conn.(*net.TCPConn)
	raw, err := tc.SyscallConn()
	if err != nil {
		return res, fmt.Errorf("probe: tcp-client: %w", err)
	}
	info := func() (*unix.TCPInfo, string, error) {
		var ti *unix.TCPInfo
		var cc string
		var ierr error
		if err := raw.Control(func(fd uintptr) {
			ti, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
			if ierr == nil {
				cc, ierr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
			}
		}); err != nil {
			return nil, "", err
		}
		return ti, cc, ierr
	}

	// The kernel's bytes_acked counts the SYN too: the window's baseline is a sample
	// taken once connected, or the one at the end of the warmup.
	ti0, _, err := info()
	if err != nil {
		return res, fmt.Errorf("probe: tcp-client: tcp_info: %w", err)
	}
	start := time.Now()
	acked0, t0 := ti0.Bytes_acked, start
	retr0, segs0 := ti0.Total_retrans, ti0.Data_segs_out
	end := start.Add(o.Duration)
	stop := context.AfterFunc(ctx, func() { _ = tc.SetWriteDeadline(time.Now()) })
	defer stop()

	// Send until the warmup ends, sample, then send until the end. A write deadline ends
	// each phase on time even while Write blocks (and with no second goroutine, the
	// warmup sample is always taken before the final one).
	buf := make([]byte, 128<<10)
	sendUntil := func(deadline time.Time) error {
		_ = tc.SetWriteDeadline(deadline)
		// Cancelled before the deadline was set: the AfterFunc's deadline may have been
		// overwritten. Cancelled after: the AfterFunc runs after this and wins.
		if ctx.Err() != nil {
			return fmt.Errorf("probe: tcp-client: %w", ctx.Err())
		}
		for {
			if _, err := tc.Write(buf); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("probe: tcp-client: %w", ctx.Err())
				}
				if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
					return fmt.Errorf("probe: tcp-client: send to %s: %w", o.Dst, err)
				}
				if !errors.Is(err, syscall.ETIMEDOUT) && !isTimeout(err) {
					return fmt.Errorf("probe: tcp-client: send to %s: %w", o.Dst, err)
				}
				return nil
			}
		}
	}
	if o.Warmup > 0 {
		if err := sendUntil(start.Add(o.Warmup)); err != nil {
			return res, err
		}
		tw, _, err := info()
		if err != nil {
			return res, fmt.Errorf("probe: tcp-client: tcp_info at warmup: %w", err)
		}
		acked0, t0 = tw.Bytes_acked, time.Now()
		retr0, segs0 = tw.Total_retrans, tw.Data_segs_out
	}
	var rttSum float64
	for {
		next := time.Now().Add(RTTSampleInterval)
		if next.After(end) {
			next = end
		}
		if err := sendUntil(next); err != nil {
			return res, err
		}
		if !next.Before(end) {
			break
		}
		ts, _, err := info()
		if err != nil {
			return res, fmt.Errorf("probe: tcp-client: tcp_info: %w", err)
		}
		rttSum += float64(ts.Rtt) / 1000
		res.RTTSamples++
	}
	if testHookSent != nil {
		testHookSent(tc)
	}
	ti, cc, err := info()
	now := time.Now()
	if err != nil {
		return res, fmt.Errorf("probe: tcp-client: tcp_info: %w", err)
	}
	res.CC = cc
	res.Seconds = now.Sub(t0).Seconds()
	if ti.Bytes_acked >= acked0 {
		res.BytesAcked = ti.Bytes_acked - acked0
	}
	if res.Seconds > 0 {
		res.GoodputBps = float64(res.BytesAcked) * 8 / res.Seconds
	}
	res.RTTMs = float64(ti.Rtt) / 1000
	rttSum += res.RTTMs
	res.RTTSamples++
	res.MeanRTTMs = rttSum / float64(res.RTTSamples)
	res.MinRTTMs = float64(ti.Min_rtt) / 1000
	res.Retransmits = ti.Total_retrans
	res.WindowRetransmits = ti.Total_retrans - retr0
	res.WindowDataSegments = ti.Data_segs_out - segs0
	res.MSS = ti.Snd_mss
	return res, nil
}

// RTTSampleInterval is how often TCPClient samples the smoothed RTT for MeanRTTMs.
const RTTSampleInterval = 100 * time.Millisecond

// testHookSent, when set by a test, runs when the client has stopped sending, before it
// reads its final counters.
var testHookSent func(*net.TCPConn)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TCPServerOptions configures TCPServer.
type TCPServerOptions struct {
	Listen string
	// MaxConns makes the server return after that many finished connections (0: never).
	MaxConns int
}

func runTCPServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tcp-server", stderr)
	o := TCPServerOptions{}
	fs.StringVar(&o.Listen, "listen", "", "address to listen on, e.g. :5201 (required)")
	fs.IntVar(&o.MaxConns, "max-conns", 0, "exit after this many connections (0: run until stopped)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.Listen == "" {
		return fmt.Errorf("%w: tcp-server: --listen is required", ErrUsage)
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return fmt.Errorf("%w: tcp-server: --listen %q: %v", ErrUsage, o.Listen, err)
	}
	if o.MaxConns < 0 {
		return fmt.Errorf("%w: tcp-server: --max-conns must be >= 0", ErrUsage)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("probe: tcp-server: listen %s: %w", o.Listen, err)
	}
	fmt.Fprintf(stderr, "probe: tcp-server listening on %s\n", ln.Addr())
	var mu sync.Mutex
	return TCPServer(ctx, ln, o.MaxConns, func(r TCPServerResult) {
		mu.Lock()
		defer mu.Unlock()
		_ = writeJSON(stdout, r)
	})
}

// TCPServer accepts connections on ln, discards what they send and calls report for
// each finished connection. It returns when ctx is done (nil error) or after maxConns
// connections finished (if maxConns > 0). It closes ln.
func TCPServer(ctx context.Context, ln net.Listener, maxConns int, report func(TCPServerResult)) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	finished := make(chan struct{})
	var conns []net.Conn
	defer func() {
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	accepted := 0
	for maxConns == 0 || accepted < maxConns {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("probe: tcp-server: accept: %w", err)
		}
		accepted++
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			n, _ := io.Copy(io.Discard, c)
			secs := time.Since(start).Seconds()
			_ = c.Close()
			r := TCPServerResult{Kind: KindTCPServer, Remote: c.RemoteAddr().String(), Bytes: uint64(n), Seconds: secs}
			if secs > 0 {
				r.GoodputBps = float64(n) * 8 / secs
			}
			report(r)
			mu.Lock()
			done++
			if maxConns > 0 && done == maxConns {
				close(finished)
			}
			mu.Unlock()
		}()
	}
	select {
	case <-finished:
	case <-ctx.Done():
	}
	return nil
}
