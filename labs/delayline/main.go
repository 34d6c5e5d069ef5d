package delayline

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Usage is the synopsis of `twinflow-node delay`.
const Usage = `usage: delay --a IFACE --b IFACE --delay D [--limit N] [--rt]
Bridges IFACE a and b (in the current network namespace) holding every frame for D
(one way, both directions); prints one JSON line of counters when stopped.`

// ReadyLine is what `twinflow-node delay` writes on stderr once both sockets are open.
const ReadyLine = "delay line ready"

// ParseArgs parses the arguments of `twinflow-node delay` (without the word "delay").
func ParseArgs(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("delay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, Usage) }
	a := fs.String("a", "", "first interface (required)")
	b := fs.String("b", "", "second interface (required)")
	d := fs.Duration("delay", 0, "one-way delay in each direction, e.g. 5ms (0..10s)")
	limit := fs.Int("limit", 0, fmt.Sprintf("frames held per direction (0: %d)", DefaultLimit))
	rt := fs.Bool("rt", false, "run the line's threads under SCHED_FIFO (needs CAP_SYS_NICE)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Options{}, err
		}
		return Options{}, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return Options{A: *a, B: *b, Delay: *d, Limit: *limit, Realtime: *rt}.Validate()
}

// Main runs `twinflow-node delay` until ctx ends and returns the exit code: 0 after a
// clean stop, 1 on a failure (an interface missing, a socket error), 2 on malformed
// arguments.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, Usage)
		return 2
	}
	var line *Line
	start := time.Now()
	err = Run(ctx, o, func(l *Line) {
		line = l
		fmt.Fprintf(stderr, "%s: %s <-> %s, %v each way\n", ReadyLine, o.A, o.B, o.Delay)
	})
	if line != nil {
		ab, ba := line.Stats()
		out, _ := json.Marshal(struct {
			A        string  `json:"a"`
			B        string  `json:"b"`
			DelayMs  float64 `json:"delay_ms"`
			Seconds  float64 `json:"seconds"`
			AB       Stats   `json:"a_to_b"`
			BA       Stats   `json:"b_to_a"`
			ErrorMsg string  `json:"error,omitempty"`
		}{o.A, o.B, float64(o.Delay) / 1e6, time.Since(start).Seconds(), ab, ba, errString(err)})
		fmt.Fprintln(stdout, strings.TrimSpace(string(out)))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
