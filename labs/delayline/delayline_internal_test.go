package delayline

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// chanPort is a fake port: reads come from in, writes go to out.
type chanPort struct {
	in     chan []byte
	out    chan []byte
	werr   error
	closed sync.Once
}

func newChanPort() *chanPort {
	return &chanPort{in: make(chan []byte, 4096), out: make(chan []byte, 4096)}
}

func (p *chanPort) read(buf []byte) (int, error) {
	select {
	case f := <-p.in:
		return copy(buf, f), nil
	case <-time.After(5 * time.Millisecond):
		return 0, errTimeout
	}
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
func (c realClock) sleepUntil(t int64) {
	time.Sleep(time.Duration(t - c.now()))
}

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
	go func() { done <- l.run(ctx, func() {}) }()
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

// gatePort blocks writes until released, and reads a fixed script.
type gatePort struct {
	chanPort
	gate    chan struct{}
	written chan struct{}
}

func (p *gatePort) write(f []byte) error {
	p.written <- struct{}{}
	<-p.gate
	return p.chanPort.write(f)
}

// TestPipeDropsBeyondLimit: with the writer stuck, at most Limit frames wait and the
// rest are dropped and counted.
func TestPipeDropsBeyondLimit(t *testing.T) {
	in := newChanPort()
	out := &gatePort{chanPort: *newChanPort(), gate: make(chan struct{}), written: make(chan struct{}, 16)}
	p := newPipe(in, out, 0, 4, realClock{time.Now()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.run(ctx, func() {}) }()
	in.in <- seqFrame(0, 0)
	<-out.written // the writer holds frame 0; the queue is empty
	for i := range uint32(9) {
		in.in <- seqFrame(i+1, 0)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(in.in) > 0 || p.st.dropped.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped %d, input left %d", p.st.dropped.Load(), len(in.in))
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	close(out.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := p.st.snapshot()
	if st.Frames != 5 || st.Dropped != 5 {
		t.Fatalf("stats %+v, want 5 forwarded (1 in flight + limit 4) and 5 dropped", st)
	}
	for i := range uint32(5) {
		if s := binary.BigEndian.Uint32(<-out.out); s != i {
			t.Fatalf("forwarded frame %d is number %d", i, s)
		}
	}
}

// TestLineWriteFailureStops: a failing write ends the line with that error.
func TestLineWriteFailureStops(t *testing.T) {
	a, b := newChanPort(), newChanPort()
	b.werr = errors.New("link gone")
	l := newLine(a, b, Options{Delay: 0, Limit: 8}, realClock{time.Now()})
	done := make(chan error, 1)
	go func() { done <- l.run(context.Background(), func() {}) }()
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
	o, err := ParseArgs([]string{"--a", "ma", "--b", "mb", "--delay", "5ms"}, io.Discard)
	if err != nil || o.A != "ma" || o.B != "mb" || o.Delay != 5*time.Millisecond || o.Limit != DefaultLimit {
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
