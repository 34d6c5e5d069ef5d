package alto

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// The test network (PIDs by device):
//
//	h1 --0.1ms-- r1 --1ms-- r2 --1ms-- r3        all 10 Gb/s
//	              \________5ms, 40 Gb/s_____/
//
// h1 has the label alto.prefixes=10.1.0.0/24 (a host subnet); r1 has 10.0.12.1/30
// toward r2 and the stub LAN 192.0.2.1/24; r2 has 10.0.12.2/30 and 10.0.23.1/30; r3
// has 10.0.23.2/30 and 2001:db8:3::1/64. r1 and r2 are in domain AS1, r3 and h1 in
// AS2. Flow f1 (elastic) goes h1→r1→r2→r3, flow f2 (2 Gb/s cap) r1→r2: on r1--r2,
// f2 gets 2 and f1 8, so r1--r2 is full and h1--r1, r2--r3 carry 8.
func testNetwork() *network.Network {
	n := &network.Network{}
	dev := func(id string, typ network.DeviceType, domain string, ports ...string) {
		d := network.Device{ID: id, Type: typ, Domain: domain, OperStatus: network.StatusEnabled}
		for _, p := range ports {
			d.Endpoints = append(d.Endpoints, network.EndPoint{ID: p})
		}
		n.Devices = append(n.Devices, d)
	}
	dev("h1", network.DeviceHost, "AS2", "eth1")
	n.Devices[0].Labels = map[string]string{LabelPrefixes: "10.1.0.0/24"}
	dev("r1", network.DeviceRouter, "AS1", "eth0", "eth1", "eth2", "eth3")
	dev("r2", network.DeviceRouter, "AS1", "eth1", "eth2")
	dev("r3", network.DeviceRouter, "AS2", "eth1", "eth2", "eth3")
	link := func(a, ae, z, ze string, lat, capa float64) {
		n.Links = append(n.Links, network.Link{ID: a + "--" + z, CapacityGbps: capa, LatencyMs: lat,
			Endpoints: []network.EndPointRef{{Device: a, EndPoint: ae}, {Device: z, EndPoint: ze}}})
	}
	link("h1", "eth1", "r1", "eth0", 0.1, 10)
	link("r1", "eth1", "r2", "eth1", 1, 10)
	link("r2", "eth2", "r3", "eth1", 1, 10)
	link("r1", "eth2", "r3", "eth2", 5, 40)
	two := 2.0
	n.Flows = []network.Flow{
		{ID: "f1", Src: "h1", Dst: "r3", Path: []string{"h1--r1", "r1--r2", "r2--r3"}},
		{ID: "f2", Src: "r1", Dst: "r2", Path: []string{"r1--r2"}, DemandGbps: &two},
	}
	return n
}

// ifConfig is an OpenConfig interfaces tree with one address per interface.
func ifConfig(addrs map[string]string) []byte {
	var itfs []any
	for name, cidr := range addrs {
		ip, pl, _ := strings.Cut(cidr, "/")
		fam := "ipv4"
		if strings.Contains(ip, ":") {
			fam = "ipv6"
		}
		itfs = append(itfs, map[string]any{"name": name, "config": map[string]any{"name": name},
			"subinterfaces": map[string]any{"subinterface": []any{map[string]any{"index": 0,
				fam: map[string]any{"addresses": map[string]any{"address": []any{map[string]any{
					"ip": ip, "config": map[string]any{"ip": ip, "prefix-length": json.Number(pl)}}}}}}}}})
	}
	b, _ := json.Marshal(map[string]any{"openconfig-interfaces:interfaces": map[string]any{"interface": itfs}})
	return b
}

var testConfigs = map[string]map[string]string{
	"r1": {"eth1": "10.0.12.1/30", "eth3": "192.0.2.1/24"},
	"r2": {"eth1": "10.0.12.2/30", "eth2": "10.0.23.1/30"},
	"r3": {"eth1": "10.0.23.2/30", "eth3": "2001:db8:3::1/64"},
}

type fixture struct {
	t     testing.TB
	twins *twin.Manager
	srv   *Server
	http  *httptest.Server
}

func newFixture(t testing.TB, o Options) *fixture {
	t.Helper()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error {
		if _, err := tx.Apply(testNetwork()); err != nil {
			return err
		}
		for dev, addrs := range testConfigs {
			if _, err := tx.PutDeviceConfig(twin.DeviceConfig{Device: dev, Config: ifConfig(addrs)}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	o.Twins = m
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); hs.Close() })
	return &fixture{t: t, twins: m, srv: s, http: hs}
}

// do sends a request; body is marshalled unless it is a string or []byte.
func (f *fixture) do(method, path, contentType string, body any, hdr ...string) (*http.Response, []byte) {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.http.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.http.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, b
}

// get GETs a JSON resource, checks 200 and the media type, and decodes it.
func (f *fixture) get(path, mediaType string, v any) {
	f.t.Helper()
	resp, b := f.do(http.MethodGet, path, "", nil)
	f.expect(resp, b, http.StatusOK, mediaType)
	if err := json.Unmarshal(b, v); err != nil {
		f.t.Fatalf("GET %s: %v\n%s", path, err, b)
	}
}

// post POSTs a JSON body, checks 200 and the media type, and decodes it.
func (f *fixture) post(path, accepts, mediaType string, body, v any) {
	f.t.Helper()
	resp, b := f.do(http.MethodPost, path, accepts, body)
	f.expect(resp, b, http.StatusOK, mediaType)
	if err := json.Unmarshal(b, v); err != nil {
		f.t.Fatalf("POST %s: %v\n%s", path, err, b)
	}
}

func (f *fixture) expect(resp *http.Response, body []byte, status int, mediaType string) {
	f.t.Helper()
	if resp.StatusCode != status {
		f.t.Fatalf("%s %s: status %d, want %d\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("Content-Type"); got != mediaType {
		f.t.Fatalf("%s %s: Content-Type %q, want %q", resp.Request.Method, resp.Request.URL.Path, got, mediaType)
	}
}

// altoError posts body and expects a 400 ALTO error with code and field.
func (f *fixture) altoError(path, accepts string, body any, code, field string) map[string]any {
	f.t.Helper()
	resp, b := f.do(http.MethodPost, path, accepts, body)
	f.expect(resp, b, http.StatusBadRequest, MediaError)
	var e struct {
		Meta map[string]any `json:"meta"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		f.t.Fatalf("error body: %v\n%s", err, b)
	}
	if e.Meta["code"] != code {
		f.t.Fatalf("POST %s %v: code %v, want %s (%s)", path, body, e.Meta["code"], code, b)
	}
	if field != "" && e.Meta["field"] != field {
		f.t.Fatalf("POST %s %v: field %v, want %s (%s)", path, body, e.Meta["field"], field, b)
	}
	return e.Meta
}

func (f *fixture) update(fn func(tx *twin.Txn) error) uint64 {
	f.t.Helper()
	rev, err := f.twins.Live().Update(context.Background(), fn)
	if err != nil {
		f.t.Fatal(err)
	}
	return rev
}

type vtag struct {
	ResourceID string `json:"resource-id"`
	Tag        string `json:"tag"`
}

func (v vtag) String() string { return fmt.Sprintf("%s@%s", v.ResourceID, v.Tag) }
