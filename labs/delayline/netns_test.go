//go:build linux

package delayline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The namespace harness: namespaces <prefix>a and <prefix>b joined either directly
// (veth a0 ↔ b0) or through a delay line in <prefix>m (a0 ↔ ma, mb ↔ b0). Addresses
// 10.77.0.1/30 (a0) and 10.77.0.2/30 (b0). The prefix holds the process ID, so that
// concurrent test runs do not collide.

const (
	addrA = "10.77.0.1"
	addrB = "10.77.0.2"
)

type pair struct {
	prefix     string
	withLine   bool
	stopLine   func() // stops the line (in-process or child), waits for it
	line       *Line  // the in-process line, if so
	lineStderr *strings.Builder
}

func (p *pair) ns(x string) string { return p.prefix + x }

var pairSeq atomic.Int64

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("needs iproute2")
	}
}

func ipRun(tb testing.TB, args ...string) {
	tb.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func nsRun(tb testing.TB, ns string, args ...string) {
	tb.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("in %s: %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// newPair builds the namespaces; rateMbit > 0 shapes both directions at the sender's
// egress with HTB (as the sandbox does), with UDP in a class of its own so that probe
// datagrams do not queue behind bulk TCP. Cleanup (registered first) deletes the
// namespaces even when building fails half way.
func newPair(tb testing.TB, withLine bool, delay time.Duration, rateMbit int, rt bool) *pair {
	tb.Helper()
	requireRoot(tb)
	p := &pair{prefix: fmt.Sprintf("tfdl%d-%d", os.Getpid(), pairSeq.Add(1)), withLine: withLine}
	tb.Cleanup(func() {
		if p.stopLine != nil {
			p.stopLine()
		}
		for _, x := range []string{"a", "m", "b"} {
			_ = exec.Command("ip", "netns", "del", p.ns(x)).Run()
		}
	})
	nss := []string{"a", "b"}
	if withLine {
		nss = append(nss, "m")
	}
	for _, x := range nss {
		ipRun(tb, "netns", "add", p.ns(x))
		nsRun(tb, p.ns(x), "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
		nsRun(tb, p.ns(x), "ip", "link", "set", "dev", "lo", "up")
	}
	if withLine {
		ipRun(tb, "link", "add", "name", "a0", "netns", p.ns("a"), "type", "veth", "peer", "name", "ma", "netns", p.ns("m"))
		ipRun(tb, "link", "add", "name", "mb", "netns", p.ns("m"), "type", "veth", "peer", "name", "b0", "netns", p.ns("b"))
		for _, d := range []string{"ma", "mb"} {
			nsRun(tb, p.ns("m"), "ip", "link", "set", "dev", d, "up")
		}
	} else {
		ipRun(tb, "link", "add", "name", "a0", "netns", p.ns("a"), "type", "veth", "peer", "name", "b0", "netns", p.ns("b"))
	}
	for _, s := range []struct{ ns, dev, addr string }{{"a", "a0", addrA}, {"b", "b0", addrB}} {
		nsRun(tb, p.ns(s.ns), "ip", "addr", "add", s.addr+"/30", "dev", s.dev)
		nsRun(tb, p.ns(s.ns), "ip", "link", "set", "dev", s.dev, "gso_max_segs", "1", "up")
		if rateMbit > 0 {
			nsRun(tb, p.ns(s.ns), "tc", "qdisc", "add", "dev", s.dev, "root", "handle", "1:", "htb", "default", "10")
			nsRun(tb, p.ns(s.ns), "tc", "class", "add", "dev", s.dev, "parent", "1:", "classid", "1:1", "htb", "rate", fmt.Sprintf("%dmbit", rateMbit+1), "quantum", "1514")
			nsRun(tb, p.ns(s.ns), "tc", "class", "add", "dev", s.dev, "parent", "1:1", "classid", "1:10", "htb", "rate", fmt.Sprintf("%dmbit", rateMbit), "quantum", "1514")
			nsRun(tb, p.ns(s.ns), "tc", "class", "add", "dev", s.dev, "parent", "1:1", "classid", "1:20", "htb", "rate", "1mbit", "ceil", "1mbit", "quantum", "1514", "prio", "0")
			nsRun(tb, p.ns(s.ns), "tc", "qdisc", "add", "dev", s.dev, "parent", "1:10", "pfifo", "limit", "100")
			nsRun(tb, p.ns(s.ns), "tc", "filter", "add", "dev", s.dev, "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "protocol", "17", "0xff", "flowid", "1:20")
		}
	}
	if withLine {
		p.startLine(tb, delay, rt)
	}
	return p
}

// startLine runs the line in namespace m: as a `twinflow-node delay` process when
// TWINFLOW_BIN names a directory holding twinflow-node (how the sandbox runs it),
// in-process otherwise.
func (p *pair) startLine(tb testing.TB, delay time.Duration, rt bool) {
	tb.Helper()
	args := []string{"--a", "ma", "--b", "mb", "--delay", delay.String(), "--rt=" + strconv.FormatBool(rt)}
	if bin := os.Getenv("TWINFLOW_BIN"); bin != "" {
		if _, err := os.Stat(filepath.Join(bin, "twinflow-node")); err == nil {
			cmd := exec.Command("ip", append([]string{"netns", "exec", p.ns("m"), filepath.Join(bin, "twinflow-node"), "delay"}, args...)...)
			p.lineStderr = &strings.Builder{}
			cmd.Stderr = p.lineStderr
			// No Pdeathsig: it fires when the forking OS thread exits, and threads
			// locked by inNS exit with their goroutines — one of them may be the
			// thread that forked the line. The cleanup stops it instead.
			if err := cmd.Start(); err != nil {
				tb.Fatal(err)
			}
			p.stopLine = func() {
				_ = cmd.Process.Signal(unix.SIGTERM)
				done := make(chan struct{})
				go func() { _ = cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					<-done
				}
			}
			return
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *Line, 1)
	done := make(chan error, 1)
	go func() {
		err := inNS(p.ns("m"), func() error {
			return Run(ctx, Options{A: "ma", B: "mb", Delay: delay, Realtime: rt}, func(l *Line) { started <- l })
		})
		done <- err
	}()
	select {
	case p.line = <-started:
	case err := <-done:
		cancel()
		tb.Fatalf("delay line: %v", err)
	}
	p.stopLine = func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("delay line: %v", err)
		}
	}
}

// lineLog returns what the line process wrote on stderr, for failure messages.
func (p *pair) lineLog() string {
	if p.lineStderr == nil || p.lineStderr.Len() == 0 {
		return ""
	}
	return "; delay line stderr: " + p.lineStderr.String()
}

// inNS runs f on an OS thread in network namespace ns (the thread is discarded
// afterwards). Sockets f opens stay in ns whatever thread uses them later.
func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		_ = unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

func listenUDP(tb testing.TB, ns, addr string) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	if err := inNS(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(mustAddrPort(addr)))
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// udpEcho answers every datagram on c with itself until c is closed.
func udpEcho(c *net.UDPConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		_, _ = c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// udpPing sends count datagrams from ns a to the echo in b, interval apart, and
// returns the round-trip times of the answered ones (in order) and how many were lost.
func udpPing(tb testing.TB, p *pair, count int, interval time.Duration) ([]time.Duration, int) {
	tb.Helper()
	srv := listenUDP(tb, p.ns("b"), addrB+":7")
	go udpEcho(srv)
	cl := listenUDP(tb, p.ns("a"), addrA+":0")
	dst := mustAddrPort(addrB + ":7")
	buf := make([]byte, 64)
	// Until the path answers (the line's sockets open, ARP resolved): up to 10 s.
	for try := 0; ; try++ {
		if try == 100 {
			tb.Fatalf("no echo through the path in 10 s%s", p.lineLog())
		}
		_, _ = cl.WriteToUDPAddrPort([]byte("warmup"), dst)
		_ = cl.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := cl.ReadFromUDPAddrPort(buf); err == nil && string(buf[:n]) == "warmup" {
			break
		}
	}
	var rtts []time.Duration
	lost := 0
	for i := range count {
		msg := make([]byte, 64)
		binary.BigEndian.PutUint32(msg, uint32(i))
		t0 := time.Now()
		if _, err := cl.WriteToUDPAddrPort(msg, dst); err != nil {
			tb.Fatal(err)
		}
		_ = cl.SetReadDeadline(t0.Add(time.Second))
		for {
			n, _, err := cl.ReadFromUDPAddrPort(buf)
			if err != nil {
				lost++
				break
			}
			if n >= 4 && binary.BigEndian.Uint32(buf) == uint32(i) {
				rtts = append(rtts, time.Since(t0))
				break
			}
		}
		time.Sleep(interval)
	}
	return rtts, lost
}

// tcpLoad runs a bulk TCP transfer from a to b until stop is called, which returns the
// bytes the receiver got in the window [from, stop).
func tcpLoad(tb testing.TB, p *pair, port int) (start func() time.Time, stop func() int64) {
	tb.Helper()
	var ln net.Listener
	if err := inNS(p.ns("b"), func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(addrB, strconv.Itoa(port)))
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	var conn net.Conn
	if err := inNS(p.ns("a"), func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err = d.Dial("tcp4", net.JoinHostPort(addrB, strconv.Itoa(port)))
		return err
	}); err != nil {
		_ = ln.Close()
		tb.Fatal(err)
	}
	srv, err := ln.Accept()
	_ = ln.Close()
	if err != nil {
		tb.Fatal(err)
	}
	var received atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 256<<10)
		for {
			n, err := srv.Read(buf)
			received.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 256<<10)
		for {
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	var base int64
	start = func() time.Time { base = received.Load(); return time.Now() }
	stop = func() int64 {
		got := received.Load() - base
		_ = conn.Close()
		_ = srv.Close()
		wg.Wait()
		return got
	}
	return start, stop
}

// TestDelayLineNamespaces: through a real delay line between namespaces, every
// round trip takes at least twice the delay, a burst of datagrams arrives complete and
// in order, and a TCP transfer (frames with offloaded checksums) gets through intact.
func TestDelayLineNamespaces(t *testing.T) {
	const delay = 5 * time.Millisecond
	p := newPair(t, true, delay, 0, false)

	rtts, lost := udpPing(t, p, 20, 5*time.Millisecond)
	if lost > 0 || len(rtts) != 20 {
		t.Fatalf("%d of 20 echoes lost", lost)
	}
	for i, r := range rtts {
		if r < 2*delay {
			t.Fatalf("round trip %d took %v, less than twice the delay %v", i, r, delay)
		}
	}

	// A burst, sent faster than the line's per-frame cost would allow if it reordered.
	recv := listenUDP(t, p.ns("b"), addrB+":9")
	send := listenUDP(t, p.ns("a"), addrA+":0")
	_ = recv.SetReadBuffer(4 << 20) // a starved reader must not lose datagrams
	const burst = 300
	got := make(chan []uint32, 1)
	go func() {
		var seq []uint32
		buf := make([]byte, 2048)
		_ = recv.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(seq) < burst {
			n, _, err := recv.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			if n >= 4 {
				seq = append(seq, binary.BigEndian.Uint32(buf))
			}
		}
		got <- seq
	}()
	dst := mustAddrPort(addrB + ":9")
	for i := range uint32(burst) {
		msg := make([]byte, 1000)
		binary.BigEndian.PutUint32(msg, i)
		if _, err := send.WriteToUDPAddrPort(msg, dst); err != nil {
			t.Fatal(err)
		}
		if i%25 == 24 {
			time.Sleep(2 * time.Millisecond) // stay within socket buffers
		}
	}
	seq := <-got
	if len(seq) != burst || !slices.IsSorted(seq) || seq[0] != 0 || seq[burst-1] != burst-1 {
		var ab, ba Stats
		if p.line != nil {
			ab, ba = p.line.Stats()
		}
		t.Fatalf("burst of %d arrived as %d datagrams, in order %v (first %v); line a→b %+v b→a %+v", burst, len(seq), slices.IsSorted(seq), seq[:min(len(seq), 10)], ab, ba)
	}

	// TCP: 8 MB through the line, every byte accounted for and in order.
	if n, err := tcpTransfer(p, 5001, 8<<20); err != nil || n != 8<<20 {
		t.Fatalf("TCP transfer: received %d of %d bytes: %v", n, 8<<20, err)
	}
}

// tcpTransfer sends size bytes of a counting pattern from a to b and returns how many
// the receiver got, checking the pattern.
func tcpTransfer(p *pair, port, size int) (int, error) {
	var ln net.Listener
	if err := inNS(p.ns("b"), func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(addrB, strconv.Itoa(port)))
		return err
	}); err != nil {
		return 0, err
	}
	defer ln.Close()
	sendErr := make(chan error, 1)
	go func() {
		var conn net.Conn
		err := inNS(p.ns("a"), func() (err error) {
			d := net.Dialer{Timeout: 5 * time.Second}
			conn, err = d.Dial("tcp4", net.JoinHostPort(addrB, strconv.Itoa(port)))
			return err
		})
		if err != nil {
			sendErr <- err
			return
		}
		defer conn.Close()
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i % 251)
		}
		_, err = conn.Write(buf)
		sendErr <- err
	}()
	srv, err := ln.Accept()
	if err != nil {
		return 0, err
	}
	defer srv.Close()
	_ = srv.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := 0
	buf := make([]byte, 64<<10)
	for {
		n, err := srv.Read(buf)
		for k := range n {
			if buf[k] != byte((got+k)%251) {
				return got + k, fmt.Errorf("byte %d corrupted", got+k)
			}
		}
		got += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return got, err
		}
	}
	return got, <-sendErr
}

// stats over round-trip times, in milliseconds.
type rttStats struct{ mean, sd, p50, p99, max float64 }

func summarize(rtts []time.Duration) rttStats {
	if len(rtts) == 0 {
		return rttStats{}
	}
	ms := make([]float64, len(rtts))
	var sum float64
	for i, r := range rtts {
		ms[i] = float64(r) / 1e6
		sum += ms[i]
	}
	mean := sum / float64(len(ms))
	var v float64
	for _, x := range ms {
		v += (x - mean) * (x - mean)
	}
	slices.Sort(ms)
	return rttStats{mean: mean, sd: math.Sqrt(v / float64(len(ms))), p50: ms[len(ms)/2], p99: ms[len(ms)*99/100], max: ms[len(ms)-1]}
}
