// Package delayline is a userspace link delay for the emulation sandbox on kernels
// without netem (`twinflow-node delay ...`): it sits between two network interfaces
// (the inner ends of a link split in two veth pairs), reads every frame arriving on one
// with an AF_PACKET socket, holds it for the link's one-way latency and writes it out on
// the other, in both directions, preserving order. It is an L2 wire with latency: ARP,
// IPv4 and anything else cross it unchanged.
//
// Precision (docs/emulation.md, "Delay line"): each direction is one OS thread that
// stamps frames with CLOCK_MONOTONIC as it reads them and waits in ppoll for either the
// next frame or the oldest held frame's due time, so neither a hand-over between
// threads nor the Go scheduler's millisecond timer granularity sits in the path.
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
	// Realtime runs both threads under SCHED_FIFO (priority 1, needs CAP_SYS_NICE),
	// so that on a busy host they run as soon as a frame or a due time wakes them
	// instead of waiting for a time slice. The kernel's real-time throttling still
	// leaves other tasks 5% of each CPU.
	Realtime bool
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
	Frames uint64 `json:"frames"`
	Bytes  uint64 `json:"bytes"`
	// Dropped counts frames lost: arriving when Limit frames were held, or refused
	// by the output device.
	Dropped uint64 `json:"dropped"`
	// Late counts frames released more than 100 µs after their due time (the writer
	// was behind or woke late).
	Late uint64 `json:"late"`
}

// port is one end of the line: frames are read from and written to it.
type port interface {
	// wait blocks until a frame can be read or timeout nanoseconds passed (<= 0:
	// do not block) and reports whether one can.
	wait(timeout int64) (bool, error)
	// read returns a waiting frame without blocking, or errTimeout if none is.
	read(buf []byte) (int, error)
	write(frame []byte) error
	close() error
}

var (
	errTimeout = errors.New("delayline: nothing to read")
	// errCongested is a write that the device refused for lack of buffer space: the
	// frame is dropped (counted), the line goes on.
	errCongested = errors.New("delayline: output congested")
)

// clock gives monotonic nanoseconds.
type clock interface{ now() int64 }

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

// pollNs bounds a wait, so that cancellation is noticed.
const pollNs = int64(100 * time.Millisecond)

// readBatch is the most frames read in one go before due frames are released again.
const readBatch = 32

// pipe moves frames from in to out, each held until its arrival time plus delay, in
// arrival order. One thread does both: it waits (ppoll) for input or for the head
// frame's due time, whichever comes first, so no hand-over between threads (and no Go
// scheduler timer) sits between a frame's due time and its release.
type pipe struct {
	in, out port
	delay   int64
	limit   int
	clk     clock
	q       []frame // held frames, oldest first, from q[head]
	head    int
	st      stats
	pool    sync.Pool
}

func newPipe(in, out port, delay time.Duration, limit int, clk clock) *pipe {
	p := &pipe{in: in, out: out, delay: int64(delay), limit: limit, clk: clk}
	p.pool.New = func() any { b := make([]byte, 0, 2048); return &b }
	return p
}

func (p *pipe) held() int { return len(p.q) - p.head }

func (p *pipe) push(f frame) {
	if p.head > 0 && p.head >= len(p.q)/2 {
		n := copy(p.q, p.q[p.head:])
		clear(p.q[n:])
		p.q, p.head = p.q[:n], 0
	}
	p.q = append(p.q, f)
}

func (p *pipe) pop() frame {
	f := p.q[p.head]
	p.q[p.head] = frame{}
	p.head++
	if p.head == len(p.q) {
		p.q, p.head = p.q[:0], 0
	}
	return f
}

// run moves frames until ctx ends or the input or output fails. Frames still held
// when ctx ends are discarded.
func (p *pipe) run(ctx context.Context, lockThread func() error) error {
	if err := lockThread(); err != nil {
		return err
	}
	buf := make([]byte, maxFrame)
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		now := p.clk.now()
		for p.held() > 0 && p.q[p.head].due <= now {
			f := p.pop()
			if now-f.due > lateNs {
				p.st.late.Add(1)
			}
			err := p.out.write(f.data)
			switch {
			case errors.Is(err, errCongested):
				p.st.dropped.Add(1)
			case err != nil:
				return fmt.Errorf("delayline: write: %w", err)
			default:
				p.st.frames.Add(1)
				p.st.bytes.Add(uint64(len(f.data)))
			}
			p.recycle(f.data)
			now = p.clk.now()
		}
		timeout := pollNs
		if p.held() > 0 {
			timeout = min(timeout, p.q[p.head].due-now)
		}
		ready, err := p.in.wait(timeout)
		if err != nil {
			return fmt.Errorf("delayline: wait: %w", err)
		}
		for k := 0; ready && k < readBatch; k++ {
			n, err := p.in.read(buf)
			if errors.Is(err, errTimeout) {
				break
			}
			if err != nil {
				return fmt.Errorf("delayline: read: %w", err)
			}
			t := p.clk.now()
			if p.held() >= p.limit {
				p.st.dropped.Add(1)
				continue
			}
			var data []byte
			if n <= 2048 {
				bp := p.pool.Get().(*[]byte)
				data = append((*bp)[:0], buf[:n]...)
			} else {
				data = append([]byte(nil), buf[:n]...)
			}
			p.push(frame{due: t + p.delay, data: data})
		}
	}
}

func (p *pipe) recycle(b []byte) {
	if cap(b) == 2048 {
		p.pool.Put(&b)
	}
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
func (l *Line) run(ctx context.Context, lockThread func() error) error {
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
