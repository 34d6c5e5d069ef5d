package delayline

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// chanPort is a fake port: reads come from in, writes go to out.
type chanPort struct {
	in      chan []byte
	out     chan []byte
	werr    error
	pending []byte
}

func newChanPort() *chanPort {
	return &chanPort{in: make(chan []byte, 4096), out: make(chan []byte, 4096)}
}

func (p *chanPort) wait(timeout int64) (bool, error) {
	if p.pending != nil {
		return true, nil
	}
	select {
	case p.pending = <-p.in:
		return true, nil
	case <-time.After(time.Duration(max(min(timeout, int64(5*time.Millisecond)), 1))):
		return false, nil
	}
}

func (p *chanPort) read(buf []byte) (int, error) {
	if p.pending == nil {
		select {
		case p.pending = <-p.in:
		default:
			return 0, errTimeout
		}
	}
	n := copy(buf, p.pending)
	p.pending = nil
	return n, nil
}

func (p *chanPort) write(f []byte) error {
	if p.werr != nil {
		return p.werr
	}
	p.out <- append([]byte(nil), f...)
	return nil
}

func (p *chanPort) close() error { return nil }

// realClock is the runtime's monotonic clock (portable; precision is not under test).
type realClock struct{ t0 time.Time }

func (c realClock) now() int64 { return int64(time.Since(c.t0)) }

// fakeClock is a clock the test moves.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() int64 { return c.t.Load() }

func seqFrame(i uint32, at int64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b, i)
	binary.BigEndian.PutUint64(b[4:], uint64(at))
	return b
}

// TestLineOrderAndDelay: frames cross each direction in order, none before its arrival
// plus the delay, and the counters agree.
func TestLineOrderAndDelay(t *testing.T) {
	a, b := newChanPort(), newChanPort()
	clk := realClock{time.Now()}
	const n, delay = 500, 3 * time.Millisecond
	l := newLine(a, b, Options{A: "a", B: "b", Delay: delay, Limit: 1024}, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.run(ctx, func() error { return nil }) }()
	for i := range uint32(n) {
		a.in <- seqFrame(i, clk.now())
		b.in <- seqFrame(i+1e6, clk.now())
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	check := func(name string, out chan []byte, base uint32) {
		for i := range uint32(n) {
			select {
			case f := <-out:
				got := clk.now()
				if s := binary.BigEndian.Uint32(f); s != base+i {
					t.Fatalf("%s: frame %d arrived as number %d (order broken)", name, s-base, i)
				}
				if sent := int64(binary.BigEndian.Uint64(f[4:])); got-sent < int64(delay) {
					t.Fatalf("%s: frame %d released after %v, before the delay %v", name, i, time.Duration(got-sent), delay)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: frame %d never arrived", name, i)
			}
		}
	}
	check("a→b", b.out, 0)
	check("b→a", a.out, 1e6)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	ab, ba := l.Stats()
	if ab.Frames != n || ba.Frames != n || ab.Bytes != 64*n || ab.Dropped+ba.Dropped != 0 {
		t.Fatalf("stats a→b %+v b→a %+v, want %d frames of 64 bytes each way, no drops", ab, ba, n)
	}
}

// TestPipeDropsBeyondLimit: at most Limit frames are held; the rest are dropped and
// counted, and the held ones leave in order once due.
func TestPipeDropsBeyondLimit(t *testing.T) {
	in, out := newChanPort(), newChanPort()
	clk := &fakeClock{}
	p := newPipe(in, out, time.Second, 4, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.run(ctx, func() error { return nil }) }()
	for i := range uint32(10) {
		in.in <- seqFrame(i, 0)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.st.dropped.Load() < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped %d, want 6", p.st.dropped.Load())
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case f := <-out.out:
		t.Fatalf("frame %d released before its due time", binary.BigEndian.Uint32(f))
	case <-time.After(20 * time.Millisecond):
	}
	clk.t.Store(int64(time.Second))
	for i := range uint32(4) {
		select {
		case f := <-out.out:
			if s := binary.BigEndian.Uint32(f); s != i {
				t.Fatalf("released frame %d is number %d", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("held frame %d never released", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := p.st.snapshot(); st.Frames != 4 || st.Dropped != 6 {
		t.Fatalf("stats %+v, want 4 forwarded (the limit) and 6 dropped", st)
	}
}

// TestLineWriteFailureStops: a failing write ends the line with that error.
func TestLineWriteFailureStops(t *testing.T) {
	a, b := newChanPort(), newChanPort()
	b.werr = errors.New("link gone")
	l := newLine(a, b, Options{Delay: 0, Limit: 8}, realClock{time.Now()})
	done := make(chan error, 1)
	go func() { done <- l.run(context.Background(), func() error { return nil }) }()
	a.in <- seqFrame(1, 0)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "link gone") {
			t.Fatalf("run = %v, want the write error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("line kept running after a write failure")
	}
}

func TestParseArgs(t *testing.T) {
	o, err := ParseArgs([]string{"--a", "ma", "--b", "mb", "--delay", "5ms", "--rt"}, io.Discard)
	if err != nil || o.A != "ma" || o.B != "mb" || o.Delay != 5*time.Millisecond || o.Limit != DefaultLimit || !o.Realtime {
		t.Fatalf("ParseArgs = %+v, %v", o, err)
	}
	for _, bad := range [][]string{
		{},
		{"--a", "ma", "--b", "ma", "--delay", "1ms"},
		{"--a", "ma", "--b", "mb", "--delay", "-1ms"},
		{"--a", "ma", "--b", "mb", "--delay", "11s"},
		{"--a", "ma", "--b", "mb", "--limit", "-1"},
		{"--a", "ma", "--b", "mb", "--limit", "2000000"},
		{"--a", "a/b", "--b", "mb"},
		{"--a", "sixteen-chars-xx", "--b", "mb"},
		{"--a", "ma", "--b", "mb", "extra"},
		{"--a", "ma", "--b", "mb", "--delay", "soon"},
	} {
		if _, err := ParseArgs(bad, io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("ParseArgs(%q) = %v, want ErrUsage", bad, err)
		}
	}
	if code := Main(context.Background(), []string{"--a", "x"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("Main with bad arguments = %d, want 2", code)
	}
}

func FuzzParseArgs(f *testing.F) {
	f.Add("--a\x00ma\x00--b\x00mb\x00--delay\x005ms")
	f.Add("--limit\x00-3")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseArgs(strings.Split(s, "\x00"), io.Discard)
		if err != nil {
			return
		}
		if !validIfName(o.A) || !validIfName(o.B) || o.A == o.B || o.Delay < 0 || o.Delay > MaxDelay || o.Limit < 1 || o.Limit > MaxLimit {
			t.Fatalf("accepted out-of-bounds options %+v", o)
		}
	})
}
