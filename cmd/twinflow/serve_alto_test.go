package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/server"
)

// TestServeALTO: `serve` mounts the ALTO server under /alto/ beside the REST API, behind
// the same authentication (an anonymous query is 401); the demo's leaf-spine gives one
// PID per device and hop counts between them.
func TestServeALTO(t *testing.T) {
	banner := &syncBuffer{}
	url := runServer(t, server.Config{Demo: true, Banner: banner, ALTO: &server.ALTOConfig{}})
	tok, err := os.ReadFile(filepath.Join(auth.DemoTokenDir(strings.TrimPrefix(url, "http://")), "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(url + "/alto/directory"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous ALTO query: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	get := func(path, wantType string) []byte {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), wantType) {
			t.Fatalf("GET %s: %d %s\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		return b
	}
	var ird struct {
		Resources map[string]struct {
			URI string `json:"uri"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(get("/alto/directory", "application/alto-directory+json"), &ird); err != nil {
		t.Fatal(err)
	}
	if ird.Resources["networkmap"].URI != url+"/alto/networkmap" {
		t.Fatalf("IRD: %+v", ird.Resources["networkmap"])
	}
	var cm struct {
		Map map[string]map[string]float64 `json:"cost-map"`
	}
	if err := json.Unmarshal(get("/alto/costmap/num-hopcount", "application/alto-costmap+json"), &cm); err != nil {
		t.Fatal(err)
	}
	// leaf-spine: leaf to leaf over a spine is 2 hops, host to a host on another leaf 4
	if cm.Map["pid:leaf-0"]["pid:leaf-1"] != 2 || len(cm.Map) != 14 {
		t.Fatalf("hop counts: %d rows, leaf-0→leaf-1 %v", len(cm.Map), cm.Map["pid:leaf-0"]["pid:leaf-1"])
	}
	get("/api/v1/twins", "application/json") // the API is still served beside it
	if !strings.Contains(banner.String(), "ALTO: /alto/directory") {
		t.Fatalf("banner: %s", banner.String())
	}
}
