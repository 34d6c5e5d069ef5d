// Package delayline is a userspace link delay for the emulation sandbox on kernels
// without netem (`twinflow-node delay ...`): it sits between two network interfaces
// (the inner ends of a link split in two veth pairs), reads every frame arriving on one
// with an AF_PACKET socket, holds it for the link's one-way latency and writes it out on
// the other, in both directions, preserving order. It is an L2 wire with latency: ARP,
// IPv4 and anything else cross it unchanged.
//
// Precision (docs/emulation.md, "Delay line"): frames are stamped with CLOCK_MONOTONIC
// right after the receive call returns and released by a writer thread sleeping in
// clock_nanosleep to an absolute deadline, so the Go scheduler's millisecond timer
// granularity does not apply.
package delayline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Sentinel errors.
var (
	// ErrUsage marks malformed options or arguments.
	ErrUsage = errors.New("delayline: usage")
)

// Bounds on the options.
const (
	// MaxDelay bounds the one-way delay.
	MaxDelay = 10 * time.Second
	// MaxLimit bounds the frames held per direction.
	MaxLimit = 1 << 20
	// DefaultLimit is the frames held per direction when Options.Limit is 0: 20 ms
	// at 1 Gb/s of full-size frames with room to spare.
	DefaultLimit = 1 << 14
	// maxFrame is the largest frame read (a 64 KiB GSO frame plus its headers).
	maxFrame = 1<<16 + 128
)

// Options configures a delay line.
type Options struct {
	// A and B are the interfaces bridged (frames from A leave on B and back).
	A, B string
	// Delay is the one-way delay applied in each direction (0..MaxDelay).
	Delay time.Duration
	// Limit bounds the frames held per direction; a frame arriving when Limit are
	// held is dropped (counted). 0 means DefaultLimit.
	Limit int
}

// Validate checks the options and fills defaults.
func (o Options) Validate() (Options, error) {
	if !validIfName(o.A) || !validIfName(o.B) {
		return o, fmt.Errorf("%w: interface names %q and %q must be 1..15 characters without '/', ':' or spaces", ErrUsage, o.A, o.B)
	}
	if o.A == o.B {
		return o, fmt.Errorf("%w: interfaces must differ (both %q)", ErrUsage, o.A)
	}
	if o.Delay < 0 || o.Delay > MaxDelay {
		return o, fmt.Errorf("%w: delay %v out of range 0..%v", ErrUsage, o.Delay, MaxDelay)
	}
	if o.Limit < 0 || o.Limit > MaxLimit {
		return o, fmt.Errorf("%w: limit %d out of range 0..%d", ErrUsage, o.Limit, MaxLimit)
	}
	if o.Limit == 0 {
		o.Limit = DefaultLimit
	}
	return o, nil
}

func validIfName(s string) bool {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '/' || c == ':' {
			return false
		}
	}
	return true
}

// Stats counts what one direction did.
type Stats struct {
	Frames  uint64 `json:"frames"`
	Bytes   uint64 `json:"bytes"`
	// Dropped counts frames lost: arriving when Limit frames were held, or refused
	// by the output device.
	Dropped uint64 `json:"dropped"`
	// Late counts frames released more than 100 µs after their due time (the writer
	// was behind or woke late).
	Late uint64 `json:"late"`
}

// port is one end of the line: frames are read from and written to it.
type port interface {
	// read blocks for a frame (or returns errTimeout after a short while, so that
	// the caller can check for cancellation).
	read(buf []byte) (int, error)
	write(frame []byte) error
	close() error
}

var (
	errTimeout = errors.New("delayline: read timeout")
	// errCongested is a write that the device refused for lack of buffer space: the
	// frame is dropped (counted), the line goes on.
	errCongested = errors.New("delayline: output congested")
)

// clock gives monotonic nanoseconds and sleeps to an absolute monotonic time.
type clock interface {
	now() int64
	sleepUntil(t int64)
}

type frame struct {
	due  int64
	data []byte
}

type stats struct{ frames, bytes, dropped, late atomic.Uint64 }

func (s *stats) snapshot() Stats {
	return Stats{Frames: s.frames.Load(), Bytes: s.bytes.Load(), Dropped: s.dropped.Load(), Late: s.late.Load()}
}

// lateNs is the lateness above which a release counts as late.
const lateNs = int64(100 * time.Microsecond)

// pipe moves frames from in to out, each held until its arrival time plus delay. One
// reader and one writer goroutine: frames leave in arrival order.
type pipe struct {
	in, out port
	delay   int64
	clk     clock
	q       chan frame
	st      stats
	pool    sync.Pool
}

func newPipe(in, out port, delay time.Duration, limit int, clk clock) *pipe {
	p := &pipe{in: in, out: out, delay: int64(delay), clk: clk, q: make(chan frame, limit)}
	p.pool.New = func() any { b := make([]byte, 0, 2048); return &b }
	return p
}

// run reads until ctx ends or reading fails; the writer drains what was read before
// returning.
func (p *pipe) run(ctx context.Context, lockThread func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wdone := make(chan error, 1)
	go func() {
		lockThread()
		wdone <- p.writeLoop(cancel)
	}()
	rerr := p.readLoop(ctx, lockThread)
	close(p.q)
	werr := <-wdone
	if errors.Is(rerr, context.Canceled) || errors.Is(rerr, context.DeadlineExceeded) {
		rerr = nil
	}
	return errors.Join(rerr, werr)
}

func (p *pipe) readLoop(ctx context.Context, lockThread func()) error {
	lockThread()
	buf := make([]byte, maxFrame)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := p.in.read(buf)
		if errors.Is(err, errTimeout) {
			continue
		}
		if err != nil {
			return err
		}
		t := p.clk.now()
		var data []byte
		if n <= 2048 {
			bp := p.pool.Get().(*[]byte)
			data = append((*bp)[:0], buf[:n]...)
		} else {
			data = append([]byte(nil), buf[:n]...)
		}
		select {
		case p.q <- frame{due: t + p.delay, data: data}:
		default:
			p.st.dropped.Add(1)
			p.recycle(data)
		}
	}
}

func (p *pipe) recycle(b []byte) {
	if cap(b) == 2048 {
		p.pool.Put(&b)
	}
}

// writeLoop releases frames until the queue is closed; after a failed write it calls
// stop and discards the rest.
func (p *pipe) writeLoop(stop func()) error {
	var failed error
	for f := range p.q {
		if failed != nil {
			p.recycle(f.data)
			continue // drain so that the reader never blocks
		}
		if now := p.clk.now(); now < f.due {
			p.clk.sleepUntil(f.due)
		} else if now-f.due > lateNs {
			p.st.late.Add(1)
		}
		if err := p.out.write(f.data); errors.Is(err, errCongested) {
			p.st.dropped.Add(1)
		} else if err != nil {
			failed = fmt.Errorf("delayline: write: %w", err)
			stop()
		} else {
			p.st.frames.Add(1)
			p.st.bytes.Add(uint64(len(f.data)))
		}
		p.recycle(f.data)
	}
	return failed
}

// Line is a running two-way delay line.
type Line struct {
	ab, ba *pipe
}

// Stats returns the counters of both directions (A→B, B→A).
func (l *Line) Stats() (ab, ba Stats) { return l.ab.st.snapshot(), l.ba.st.snapshot() }

func newLine(a, b port, o Options, clk clock) *Line {
	return &Line{ab: newPipe(a, b, o.Delay, o.Limit, clk), ba: newPipe(b, a, o.Delay, o.Limit, clk)}
}

// run runs both directions until ctx ends or one fails (which stops the other).
func (l *Line) run(ctx context.Context, lockThread func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	for _, p := range []*pipe{l.ab, l.ba} {
		go func() {
			err := p.run(ctx, lockThread)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	return errors.Join(<-errs, <-errs)
}
