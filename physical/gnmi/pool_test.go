package gnmi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// TestPoolBoundedConcurrency: ForEach over 2000 devices never runs more than the limit
// at once, reaches it, and reports per-device errors without stopping the others.
func TestPoolBoundedConcurrency(t *testing.T) {
	p := tfgnmi.NewPool(8)
	defer p.Close()
	for i := 0; i < 2000; i++ {
		if _, err := p.Add(fmt.Sprintf("d%04d", i), tfgnmi.Options{Address: "127.0.0.1:1", Insecure: true}); err != nil {
			t.Fatal(err)
		}
	}
	var cur, peak, calls atomic.Int32
	errBoom := errors.New("boom")
	errs := p.ForEach(context.Background(), nil, func(ctx context.Context, name string, c *tfgnmi.Client) error {
		calls.Add(1)
		n := cur.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		cur.Add(-1)
		if name[len(name)-1] == '7' {
			return errBoom
		}
		return nil
	})
	if got := calls.Load(); got != 2000 {
		t.Errorf("%d calls; want 2000", got)
	}
	if got := peak.Load(); got > 8 || got < 2 {
		t.Errorf("peak concurrency %d; want in [2, 8]", got)
	}
	if len(errs) != 200 || !errors.Is(errs["d0007"], errBoom) {
		t.Errorf("%d errors (d0007: %v); want 200", len(errs), errs["d0007"])
	}
	errs = p.ForEach(context.Background(), []string{"nope"}, func(context.Context, string, *tfgnmi.Client) error { return nil })
	if !errors.Is(errs["nope"], tfgnmi.ErrNotInPool) {
		t.Errorf("unknown device: %v", errs["nope"])
	}
}

// TestPoolAddIfAbsent: concurrent callers for the same new device all get the one
// client the pool keeps (Add would have replaced, and closed, the others' clients;
// 300 devices, 8 callers each released at once, so that the callers interleave);
// a known device is returned without dialing, and a closed pool refuses.
func TestPoolAddIfAbsent(t *testing.T) {
	p := tfgnmi.NewPool(8)
	o := tfgnmi.Options{Address: "127.0.0.1:1", Insecure: true}
	const devices, callers = 300, 8
	for d := range devices {
		name := fmt.Sprintf("d%d", d)
		got := make([]*tfgnmi.Client, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		done := make(chan struct{})
		for i := range callers {
			go func() {
				<-start
				got[i], errs[i] = p.AddIfAbsent(name, o)
				done <- struct{}{}
			}()
		}
		close(start)
		for range callers {
			<-done
		}
		kept, ok := p.Client(name)
		if !ok {
			t.Fatalf("%s not in the pool", name)
		}
		for i := range callers {
			if errs[i] != nil || got[i] != kept {
				t.Fatalf("%s, caller %d: client %p, err %v; the pool keeps %p", name, i, got[i], errs[i], kept)
			}
		}
	}
	kept, _ := p.Client("d1")
	if c, err := p.AddIfAbsent("d1", tfgnmi.Options{}); err != nil || c != kept {
		t.Errorf("known device: %p, %v (no dial expected, so no options error)", c, err)
	}
	if _, err := p.AddIfAbsent("", o); !errors.Is(err, tfgnmi.ErrOptions) {
		t.Errorf("empty name: %v", err)
	}
	p.Close()
	if _, err := p.AddIfAbsent("d-new", o); !errors.Is(err, tfgnmi.ErrClosed) {
		t.Errorf("closed pool: %v", err)
	}
}

// TestPoolReplace: callers that found the same stale client all get the one new client
// (one replacement; the stale client is closed); a stale client that is no longer the
// device's is not replaced (nothing dialed); a removed device is dialed anew.
func TestPoolReplace(t *testing.T) {
	p := tfgnmi.NewPool(8)
	defer p.Close()
	stale, err := p.Add("d1", tfgnmi.Options{Address: "127.0.0.1:1", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	o := tfgnmi.Options{Address: "127.0.0.1:2", Insecure: true}
	const callers = 8
	got := make([]*tfgnmi.Client, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = p.Replace("d1", o, stale)
		}()
	}
	close(start)
	wg.Wait()
	cur, _ := p.Client("d1")
	if cur == stale || cur.Address() != o.Address {
		t.Fatalf("pooled client at %s, want a new one at %s", cur.Address(), o.Address)
	}
	for i := range callers {
		if errs[i] != nil || got[i] != cur {
			t.Fatalf("caller %d: %p, %v; the pool keeps %p", i, got[i], errs[i], cur)
		}
	}
	if err := stale.Close(); err == nil {
		t.Error("the replaced client was not closed")
	}
	// stale is no longer d1's client: no dial (invalid options would fail it)
	if c, err := p.Replace("d1", tfgnmi.Options{}, stale); err != nil || c != cur {
		t.Errorf("replacing an already replaced client: %p, %v; want the current %p", c, err, cur)
	}
	p.Remove("d1")
	if c, err := p.Replace("d1", o, cur); err != nil || c == cur || c.Address() != o.Address {
		t.Errorf("replace after remove: %v, %v; want a new client at %s", c, err, o.Address)
	}
}

func TestBackoff(t *testing.T) {
	b := tfgnmi.Backoff{Base: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for i := 0; i < 10; i++ {
		d := b.Next()
		ceil := min(10*time.Millisecond<<i, 80*time.Millisecond)
		if d < ceil/2 || d > ceil {
			t.Fatalf("attempt %d: %v outside [%v, %v]", i, d, ceil/2, ceil)
		}
	}
	b.Reset()
	if d := b.Next(); d > 10*time.Millisecond {
		t.Errorf("after Reset: %v; want <= base", d)
	}
}

func TestBuildSetRequestErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		ops  []tfgnmi.Op
	}{
		{"empty", nil},
		{"bad-path", []tfgnmi.Op{{Kind: tfgnmi.OpUpdate, Path: "/a//b", Value: json.RawMessage(`1`)}}},
		{"bad-json", []tfgnmi.Op{{Kind: tfgnmi.OpUpdate, Path: "/a", Value: json.RawMessage(`{`)}}},
		{"delete-with-value", []tfgnmi.Op{{Kind: tfgnmi.OpDelete, Path: "/a", Value: json.RawMessage(`1`)}}},
		{"unknown-kind", []tfgnmi.Op{{Kind: "merge", Path: "/a", Value: json.RawMessage(`1`)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := tfgnmi.BuildSetRequest("", c.ops); err == nil {
				t.Fatal("no error")
			}
		})
	}
	req, err := tfgnmi.BuildSetRequest("r1", []tfgnmi.Op{
		{Kind: tfgnmi.OpDelete, Path: "/x"},
		{Kind: tfgnmi.OpReplace, Path: "/a[k=v\\]]/b", Value: json.RawMessage(`{"c":1}`)},
		{Kind: tfgnmi.OpUpdate, Path: "/a", Value: json.RawMessage(`2`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Delete) != 1 || len(req.Replace) != 1 || len(req.Update) != 1 || req.Prefix.GetTarget() != "r1" {
		t.Fatalf("request %v", req)
	}
	if got := req.Replace[0].Path.Elem[0].Key["k"]; got != "v]" {
		t.Errorf("escaped key = %q; want %q", got, "v]")
	}
	if got := tfgnmi.PathString(nil, req.Replace[0].Path); got != `/a[k=v\]]/b` {
		t.Errorf("PathString = %q", got)
	}
}

// TestCheckTransport: the transport settings Dial refuses are refused without an
// address, with ErrOptions and the reason; usable ones pass.
func TestCheckTransport(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    tfgnmi.Options
		want string // "" = ok
	}{
		{tfgnmi.Options{Insecure: true}, ""},
		{tfgnmi.Options{}, ""},
		{tfgnmi.Options{SkipVerify: true}, ""},
		{tfgnmi.Options{Insecure: true, SkipVerify: true}, "insecure conflicts with ca-file/skip-verify"},
		{tfgnmi.Options{Insecure: true, CAFile: notPEM}, "insecure conflicts with ca-file/skip-verify"},
		{tfgnmi.Options{CAFile: notPEM}, "no certificates in " + notPEM},
		{tfgnmi.Options{CAFile: filepath.Join(dir, "missing.pem")}, "read CA file"},
	} {
		err := c.o.CheckTransport()
		if c.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", c.o, err)
			}
			continue
		}
		if !errors.Is(err, tfgnmi.ErrOptions) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%+v: %v; want ErrOptions with %q", c.o, err, c.want)
		}
		c.o.Address = "127.0.0.1:1"
		if _, derr := tfgnmi.Dial(c.o); fmt.Sprint(derr) != fmt.Sprint(err) {
			t.Errorf("%+v: Dial says %v, CheckTransport %v", c.o, derr, err)
		}
	}
}
