package torture_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// syncBuffer is a bytes.Buffer safe for a process's output and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.String()
	if len(b) > n {
		return "…" + b[len(b)-n:]
	}
	return b
}

// ---- PostgreSQL: a private cluster on a small tmpfs (root) or a temporary directory ----

type privatePG struct {
	t      testing.TB
	bin    string
	dir    string // socket directory and tmpfs mount point
	data   string
	tmpfs  bool
	asUser []string
	dsn    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// newPrivatePG initialises a cluster. As root the data directory lives on a 192 MiB
// tmpfs mounted for the test, so the disk-full fault fills a real file system; the
// server runs as the postgres user (it refuses root).
func newPrivatePG(t testing.TB) *privatePG {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			bins = []string{p}
		}
	}
	if len(bins) == 0 {
		requireIntegration(t, "no PostgreSQL server binaries (initdb) for a private cluster")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "twinflow-torture-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg := &privatePG{t: t, bin: bin, dir: dir}
	t.Cleanup(func() {
		pg.kill()
		if pg.tmpfs {
			_ = exec.Command("umount", "-l", dir).Run()
		}
		_ = os.RemoveAll(dir)
		_ = os.Remove(pg.logPath()) // outside dir, so the disk-full fault cannot silence it
	})
	if os.Geteuid() == 0 {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=192m,mode=0755", "tmpfs", dir).CombinedOutput(); err == nil {
			pg.tmpfs = true
		} else {
			t.Logf("no tmpfs for the repository (%v: %s): the disk-full fault is skipped", err, out)
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			requireIntegration(t, "running as root and no postgres user to run a private server")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		pg.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	pg.data = filepath.Join(dir, "data")
	out, err := pg.command(filepath.Join(bin, "initdb"), "-D", pg.data, "-A", "trust", "-U", "twinflow", "-N").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg.dsn = "postgres:///postgres?host=" + dir + "&user=twinflow"
	return pg
}

func (pg *privatePG) command(name string, args ...string) *exec.Cmd {
	all := append(append([]string{}, pg.asUser...), name)
	all = append(all, args...)
	return exec.Command(all[0], all[1:]...)
}

func (pg *privatePG) running() bool {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.cmd == nil {
		return false
	}
	select {
	case <-pg.done:
		return false
	default:
		return true
	}
}

// start runs the server (with crash recovery after a kill) and waits until it accepts
// connections; it reports an error instead of failing so a fault's heal can retry.
func (pg *privatePG) start() error {
	if pg.running() {
		return nil
	}
	pg.reap()
	cmd := pg.command(filepath.Join(pg.bin, "postgres"), "-D", pg.data, "-k", pg.dir,
		"-c", "listen_addresses=", "-c", "fsync=on", "-c", "shared_buffers=16MB", "-c", "max_connections=60",
		"-c", "min_wal_size=32MB", "-c", "max_wal_size=48MB", "-c", "wal_keep_size=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.OpenFile(pg.logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	pg.mu.Lock()
	pg.cmd, pg.done = cmd, done
	pg.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, pg.dsn)
		cancel()
		if err == nil {
			_ = c.Close(context.Background())
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("postgres exited at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("private PostgreSQL did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill SIGKILLs the postmaster and every backend and waits until none is left.
func (pg *privatePG) kill() { pg.signal(syscall.SIGKILL) }

// stop is a fast shutdown (SIGINT: PostgreSQL's "fast" mode).
func (pg *privatePG) stop() { pg.signal(syscall.SIGINT) }

func (pg *privatePG) signal(sig syscall.Signal) {
	pg.mu.Lock()
	cmd, done := pg.cmd, pg.done
	pg.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid
	// the whole group: as root the group leader is runuser, which does not pass SIGINT
	// on; the postmaster shuts down fast on it, backends cancel their queries
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	pg.reap()
}

// reap waits until no process of the last server's group is left (backends notice the
// postmaster's death), so a restart does not find the old shared memory in use.
func (pg *privatePG) reap() {
	pg.mu.Lock()
	cmd := pg.cmd
	pg.cmd = nil
	pg.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := syscall.Kill(-pgid, 0); err != nil {
			return
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// fill writes a ballast file until the tmpfs is full; unfill removes it.
func (pg *privatePG) fill() error {
	f, err := os.Create(filepath.Join(pg.dir, "ballast"))
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			return nil // ENOSPC: full
		}
	}
}

func (pg *privatePG) unfill() { _ = os.Remove(filepath.Join(pg.dir, "ballast")) }

// ---- a TCP proxy between the controller and one device ----

type proxyMode int

const (
	modePass      proxyMode = iota
	modeBlackhole           // nothing passes either way; connections stay open
	modeHold                // requests reach the device, its answers are held
	modeDelay               // every chunk is delayed
)

type proxy struct {
	ln       net.Listener
	mu       sync.Mutex
	upstream string
	mode     proxyMode
	latency  time.Duration // added to every chunk (the trial's device latency)
	conns    map[net.Conn]struct{}
}

func newProxy(t testing.TB) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.sever() })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *proxy) state() (string, proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upstream, p.mode
}

func (p *proxy) setLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

func (p *proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *proxy) handle(c net.Conn) {
	up, mode := p.state()
	if mode == modeBlackhole || up == "" {
		p.track(c)
		_, _ = io.Copy(io.Discard, c)
		return
	}
	u, err := net.DialTimeout("tcp", up, time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.track(c, u)
	go p.pump(u, c, false)
	p.pump(c, u, true)
}

// pump copies src to dst, dropping what the current mode does not let through.
func (p *proxy) pump(dst, src net.Conn, request bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			mode, lat := p.mode, p.latency
			p.mu.Unlock()
			switch {
			case mode == modeBlackhole, mode == modeHold && !request:
				// dropped
			default:
				if mode == modeDelay {
					lat += 300 * time.Millisecond
				}
				time.Sleep(lat)
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// set changes the mode; back to pass it also severs every connection, so streams whose
// bytes were dropped are not resumed half-way (clients reconnect).
func (p *proxy) set(m proxyMode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
	if m == modePass {
		p.sever()
	}
}

func (p *proxy) retarget(up string) {
	p.mu.Lock()
	p.upstream = up
	p.mu.Unlock()
	p.sever()
}

func (p *proxy) sever() {
	p.mu.Lock()
	cs := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range cs {
		_ = c.Close()
	}
}

// ---- twinflow-node processes ----

type nodeProc struct {
	name string
	bin  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	addr string // its own gNMI address (the test reads it directly)
}

func (n *nodeProc) start() error {
	cmd := exec.Command(n.bin, "--name", n.name, "--gnmi-addr", "127.0.0.1:0", "--insecure",
		"--ports", "eth1,eth2", "--log-level", "error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	sc := bufio.NewScanner(stdout)
	line := make(chan string, 1)
	go func() {
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
		_ = cmd.Wait()
		close(done)
	}()
	var ready struct {
		GNMIAddr string `json:"gnmi_addr"`
	}
	select {
	case l, ok := <-line:
		if !ok || json.Unmarshal([]byte(l), &ready) != nil {
			_ = cmd.Process.Kill()
			return fmt.Errorf("node %s: no ready line (%q)", n.name, l)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		return fmt.Errorf("node %s did not start", n.name)
	}
	n.mu.Lock()
	n.cmd, n.done, n.addr = cmd, done, ready.GNMIAddr
	n.mu.Unlock()
	return nil
}

func (n *nodeProc) address() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

func (n *nodeProc) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// ---- the controller: `twinflow serve` ----

type controller struct {
	bin, dsn string
	args     []string
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	url      string
	stderr   *syncBuffer
}

func (c *controller) alive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// start runs serve until its API banner appears; it retries while the server exits at
// start (its repository is down) for up to a minute.
func (c *controller) start() error {
	if c.alive() {
		return nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.startOnce()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *controller) startOnce() error {
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--plain-http", "--db", c.dsn}, c.args...)
	cmd := exec.Command(c.bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "TwinFlow API on "); ok {
				select {
				case urls <- strings.TrimSuffix(strings.Fields(rest)[0], "/api/v1"):
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case u := <-urls:
		c.mu.Lock()
		c.cmd, c.done, c.url, c.stderr = cmd, done, u, stderr
		c.mu.Unlock()
		return nil
	case <-done:
		return fmt.Errorf("serve exited at start: %s", stderr.tail(1500))
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("serve did not start: %s", stderr.tail(1500))
	}
}

func (c *controller) kill() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

func (c *controller) base() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url
}

func (c *controller) log(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stderr == nil {
		return ""
	}
	return c.stderr.tail(n)
}

// logPath is the server's log file, beside its directory.
func (pg *privatePG) logPath() string {
	return filepath.Join(os.TempDir(), filepath.Base(pg.dir)+".log")
}
