package nbi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// fuzzServer is a server over a leaf-spine live twin with a change pipeline (sqlite
// store, fake committer) for the API fuzz targets.
func fuzzServer(tb testing.TB) http.Handler {
	tb.Helper()
	ctx := context.Background()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(m.Close)
	n, err := network.LeafSpine(2, 2, 1)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n.Devices {
		if n.Devices[i].ID == "leaf-0" {
			n.Devices[i].Address = "127.0.0.1:9339"
		}
	}
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err }); err != nil {
		tb.Fatal(err)
	}
	st, err := repository.Open(ctx, "file:"+filepath.Join(tb.TempDir(), "fuzz.db"), repository.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	fc := &fakeCommitter{commits: map[string]map[string][]change.Op{}, window: map[string]bool{}}
	svc, err := pipeline.New(pipeline.Config{Twins: m, Store: st, Committer: fc})
	if err != nil {
		tb.Fatal(err)
	}
	sec := testSecurity(tb)
	s, err := nbi.New(nbi.Options{Twins: m, Changes: svc, Auth: sec.auth, Audit: sec.store.Ledger(), RateLimit: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	// every request as the admin (who may also write the live twin directly)
	tok := bearer(sec.tokens["admin"])
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", tok)
		s.Handler().ServeHTTP(w, r)
	})
}

func fuzzServe(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set(nbi.ActorHeader, "bo")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const fuzzGoodChange = `{"kind":"intent","level":"L1","twin":{"add_flows":[{"id":"probe","src":"h-0-0","dst":"h-1-0"}]}}`

// FuzzProposeChange: no ChangeSet body makes POST /api/v1/changes answer 500; a refused
// one stores nothing; a created one is stored in a final validation state with a report;
// and a well-formed proposal still validates afterwards (one request must not deny the
// pipeline, issue #13).
func FuzzProposeChange(f *testing.F) {
	for _, s := range []string{
		fuzzGoodChange,
		`{"kind":"intent","twin":{"capacities":[{"link":"leaf-0--h-0-0","capacity_gbps":1e308}]}}`,
		`{"kind":"raw-config","level":"L0","device_ops":{"leaf-0":[{"op":"replace","path":"/","value":{}}]}}`,
		`{"kind":"raw-config","level":"L0","device_ops":{"leaf-0":[{"op":"update","path":"/interfaces/interface[name=eth1]/config/mtu\u0000","value":9000}]}}`,
		`{"kind":"raw-config","level":"L0","device_ops":{"leaf-0":[{"op":"update","path":"/interfaces/interface[name=eth1]/config","value":{"mtu":9000,"description":{"a":1}}}]}}`,
		"kind: intent\ntwin:\n  add_flows:\n    - {id: f, src: h-0-0, dst: h-1-0, demand_gbps: 1e6, slo: {min_rate_gbps: 2, max_latency_ms: 5}}\n",
		"kind: raw-config\nlabel: \"\\0\"\ndevice_ops: {leaf-0: [{op: delete, path: /system/config/hostname}]}\n",
	} {
		f.Add(s)
	}
	h := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		count := func() int {
			w := fuzzServe(h, "GET", "/api/v1/changes?limit=1000", "")
			var l nbi.ChangeList
			if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil {
				t.Fatalf("list: %d %s", w.Code, w.Body)
			}
			return len(l.Items)
		}
		before := count()
		w := fuzzServe(h, "POST", "/api/v1/changes", body)
		switch {
		case w.Code >= 500:
			t.Fatalf("POST %q: %d %s", body, w.Code, w.Body)
		case w.Code == http.StatusCreated:
			var c pipeline.Change
			if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
				t.Fatalf("created change does not decode: %v", err)
			}
			if c.Report == nil || c.State != change.StateValidated && c.State != change.StateRejected && c.State != change.StateFailed {
				t.Fatalf("created change is %s with report %v", c.State, c.Report)
			}
			g := fuzzServe(h, "GET", "/api/v1/changes/"+c.ID, "")
			var got pipeline.Change
			if g.Code != 200 || json.Unmarshal(g.Body.Bytes(), &got) != nil || got.State != c.State {
				t.Fatalf("stored change: %d %s; answered %s", g.Code, g.Body, c.State)
			}
		default:
			if after := count(); after != before {
				t.Fatalf("POST %q answered %d but stored a change", body, w.Code)
			}
		}
		if w := fuzzServe(h, "POST", "/api/v1/changes", strings.Replace(fuzzGoodChange, "probe", "probe-"+itoaFuzz(before), 1)); w.Code != http.StatusCreated {
			t.Fatalf("after %q a good proposal answers %d %s", body, w.Code, w.Body)
		}
	})
}

// FuzzTwinWrite: no entity body written to the live twin makes the write answer 500,
// and whatever the twin accepted, the bottleneck analysis still answers 200 with finite
// numbers (a capacity of 1e308 made it encode +Inf and answer 500, issue #13).
func FuzzTwinWrite(f *testing.F) {
	for _, s := range []struct {
		kind uint8
		body string
	}{
		{0, `{"id":"x","endpoints":[{"device":"leaf-0","endpoint":"eth3"},{"device":"h-0-0","endpoint":"eth1"}],"capacity_gbps":1e308}`},
		{0, `{"id":"x","endpoints":[{"device":"spine-0","endpoint":"eth9"},{"device":"spine-1","endpoint":"eth9"}],"capacity_gbps":1e6,"latency_ms":1e6}`},
		{1, `{"id":"x","src":"h-0-0","dst":"h-1-0","demand_gbps":1e-6}`},
		{1, `{"id":"x","src":"h-0-0","dst":"h-1-0","class":"\u0000"}`},
		{2, `{"id":"x","type":"host","name":"\u0001","x":1e300,"endpoints":[{"id":"eth1"}]}`},
	} {
		f.Add(s.kind, s.body)
	}
	h := fuzzServer(f)
	kinds := []string{"links", "flows", "devices"}
	f.Fuzz(func(t *testing.T, kind uint8, body string) {
		k := kinds[int(kind)%len(kinds)]
		var obj struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal([]byte(body), &obj)
		id := obj.ID
		if id == "" || network.CheckID(id) != "" {
			id = "x"
		}
		w := fuzzServe(h, "PUT", "/api/v1/twins/live/"+k+"/"+id, body)
		if w.Code >= 500 {
			t.Fatalf("PUT %s %q: %d %s", k, body, w.Code, w.Body)
		}
		a := fuzzServe(h, "POST", "/api/v1/twins/live/analysis/bottleneck", `{}`)
		if a.Code != 200 {
			t.Fatalf("after PUT %s %q (%d) analysis answers %d %s", k, body, w.Code, a.Code, a.Body)
		}
	})
}

func itoaFuzz(n int) string { b, _ := json.Marshal(n); return string(b) }
