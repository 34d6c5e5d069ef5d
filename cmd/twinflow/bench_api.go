package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/twinflow/twinflow/apps/client"
)

// newBenchCmd is `twinflow bench api`: an open-loop load generator for the API's abuse
// resistance figures (docs/benchmarks.md, issue #13): authenticated mixed reads at a
// fixed rate, optionally under a parallel flood of oversized, malformed and slow clients.
func newBenchCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Load generators for the performance figures of docs/benchmarks.md"}
	var rate, workers, flood int
	var dur time.Duration
	var tokenFiles []string
	var pid int
	api := &cobra.Command{
		Use:   "api",
		Short: "Send authenticated mixed reads at --rate for --duration (optionally with a --flood of bad clients)",
		Example: `  twinflow bench api --rate 2000 --duration 30s                 # as the demo's users
  twinflow bench api --rate 2000 --duration 30s --flood 64 --pid $(pgrep -n twinflow)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rate < 1 || workers < 1 || dur <= 0 || flood < 0 {
				return usageErrorf("--rate, --workers and --duration must be positive, --flood not negative")
			}
			u, err := url.Parse(strings.TrimRight(o.Server, "/"))
			if err != nil || u.Host == "" {
				return usageErrorf("--server: %q", o.Server)
			}
			var tokens []string
			if len(tokenFiles) == 0 {
				dir := o.Security.TokenDir
				if dir == "" {
					dir = client.DemoTokenDir(u)
				}
				tokenFiles, _ = filepath.Glob(filepath.Join(dir, "*"))
			}
			for _, f := range tokenFiles {
				if strings.Contains(f, ".tmp") {
					continue
				}
				t, err := client.ReadTokenFile(f)
				if err != nil {
					return err
				}
				tokens = append(tokens, t)
			}
			if len(tokens) == 0 {
				return usageErrorf("no tokens: give --tokens FILE,... (or run against a loopback demo server)")
			}
			c, err := newAPIClient(o)
			if err != nil {
				return err
			}
			return benchAPI(cmd.Context(), cmd.OutOrStdout(), c, u, tokens, rate, workers, dur, flood, pid)
		},
	}
	f := api.Flags()
	f.IntVar(&rate, "rate", 2000, "well-formed requests per second offered")
	f.IntVar(&workers, "workers", 256, "concurrent well-formed requests at most")
	f.DurationVar(&dur, "duration", 30*time.Second, "how long")
	f.IntVar(&flood, "flood", 0, "bad clients running in parallel (oversized bodies, malformed requests, slow headers and bodies)")
	f.StringSliceVar(&tokenFiles, "tokens", nil, "token files the good traffic rotates over (default: the token directory's)")
	f.IntVar(&pid, "pid", 0, "the server's process ID: report its resident memory (VmRSS, VmHWM) during the run")
	cmd.AddCommand(api)
	return usageFlags(cmd)
}

var benchPaths = []string{
	"/api/v1/twins/live/devices?limit=20", "/api/v1/twins/live/links?limit=20", "/api/v1/twins/live/devices/leaf-0",
	"/api/v1/twins", "/api/v1/twins/live", "/api/v1/changes?limit=10", "/api/v1/twins/live/flows?limit=10",
}

func rss(pid int) (cur, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				cur = v
			case "VmHWM:":
				peak = v
			}
		}
	}
	return cur, peak
}

// cpuTicks is the process's user+system CPU time in clock ticks (1/100 s on Linux).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func benchAPI(ctx context.Context, w io.Writer, c *client.Client, u *url.URL, tokens []string, rate, workers int, dur time.Duration, flood, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	tr := c.HTTPClient().Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	if t, ok := tr.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = workers
		t.MaxConnsPerHost = workers
	}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		mu        sync.Mutex
		lat       []time.Duration
		ok, fails atomic.Int64
		late      atomic.Int64
		codes     sync.Map
		floods    atomic.Int64
	)
	var fwg sync.WaitGroup
	for i := range flood {
		fwg.Add(1)
		go func() { defer fwg.Done(); floodClient(ctx, u, i, &floods) }()
	}
	var rssMax int64
	if pid > 0 {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if r, _ := rss(pid); r > atomic.LoadInt64(&rssMax) {
						atomic.StoreInt64(&rssMax, r)
					}
				}
			}
		}()
	}
	rss0, _ := rss(pid)
	cpu0 := cpuTicks(pid)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			late.Add(1) // every worker busy: the offered request is counted as not served
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			req, _ := http.NewRequest(http.MethodGet, c.Base()+benchPaths[i%len(benchPaths)], nil)
			req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
			t0 := time.Now()
			res, err := hc.Do(req)
			d := time.Since(t0)
			if err != nil {
				fails.Add(1)
				codes.Store("error: "+clipErr(err), true)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				fails.Add(1)
				codes.Store(res.StatusCode, true)
				return
			}
			ok.Add(1)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	cancel()
	fwg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Fprintf(w, "offered %d/s for %s: %d ok (%.0f/s), %d failed, %d not sent (all %d workers busy)\n",
		rate, elapsed.Round(time.Millisecond), ok.Load(), float64(ok.Load())/elapsed.Seconds(), fails.Load(), late.Load(), workers)
	fmt.Fprintf(w, "latency of ok requests: p50 %s, p90 %s, p99 %s, max %s\n", pct(0.5), pct(0.9), pct(0.99), pct(1))
	codes.Range(func(k, _ any) bool { fmt.Fprintf(w, "  failure kind: %v\n", k); return true })
	if flood > 0 {
		fmt.Fprintf(w, "flood: %d bad clients sent %d bad requests or connections\n", flood, floods.Load())
	}
	if pid > 0 {
		r1, hwm := rss(pid)
		fmt.Fprintf(w, "server memory: RSS %d MiB before, %d MiB max during, %d MiB after; peak (VmHWM) %d MiB\n",
			rss0>>10, atomic.LoadInt64(&rssMax)>>10, r1>>10, hwm>>10)
		fmt.Fprintf(w, "server CPU: %.1f s in %.1f s (%.0f%% of one core)\n", float64(cpuTicks(pid)-cpu0)/100,
			elapsed.Seconds(), float64(cpuTicks(pid)-cpu0)/elapsed.Seconds())
	}
	return nil
}

func clipErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// floodClient is one bad client; client i does one kind, as fast as the server lets it:
// an oversized body announced by Content-Length, an oversized chunked body, a malformed
// credential with an oversized path, a malformed JSON body with a bad token, a
// slow-header (slowloris) connection, a slow body.
func floodClient(ctx context.Context, u *url.URL, i int, n *atomic.Int64) {
	host := u.Host
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: i%2 == 0}}
	base := u.Scheme + "://" + host
	junk := bytes.Repeat([]byte("x"), 256<<10)
	for ctx.Err() == nil {
		n.Add(1)
		switch i % 6 {
		case 0:
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/twins/live/apply", bytes.NewReader(junk))
			req.ContentLength = 200 << 20
			req.Header.Set("Authorization", "Bearer tfk_"+strings.Repeat("A", 43))
			if res, err := hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		case 1:
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/changes", io.LimitReader(zeros{}, 9<<20))
			req.ContentLength = -1
			if res, err := hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		case 2:
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/twins/live/devices/"+strings.Repeat("%00", 300), nil)
			req.Header.Set("Authorization", "Basic "+strings.Repeat("!", 3000))
			if res, err := hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		case 3:
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/changes", strings.NewReader(`{"kind":`+strings.Repeat("[", 10000)))
			req.Header.Set("Authorization", "Bearer not-a-token")
			if res, err := hc.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		case 4: // slow headers: one byte a second until the server gives up
			slow(ctx, host, "GET /api/v1/twins HTTP/1.1\r\nHost: x\r\nX-A: "+strings.Repeat("a", 100), 0)
		case 5: // slow body: headers, then a byte a second
			slow(ctx, host, "POST /api/v1/changes HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 0)
		}
	}
}

// slow writes head one byte a second (or, for bodies, sends head then trickles).
func slow(ctx context.Context, host, head string, _ int) {
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", host)
	if err != nil {
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	body := strings.HasSuffix(head, "\r\n\r\n")
	if body {
		if _, err := io.WriteString(conn, head); err != nil {
			return
		}
		head = strings.Repeat("x", 100000)
	}
	for i := 0; i < len(head) && ctx.Err() == nil; i++ {
		if _, err := conn.Write([]byte{head[i]}); err != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
