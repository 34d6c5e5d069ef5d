package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// Snapshots of a server's live twin and of a file; immutable; list and show.
func TestSnapshotCLI(t *testing.T) {
	url := startChangeServer(t)
	mustCLI(t, url, "apply", "-f", certNet, "--as", "admin") // a direct live write: admin only
	db := "file:" + filepath.Join(t.TempDir(), "snap.db")
	out := mustCLI(t, url, "snapshot", "create", "live-1", "--twin", "live", "--db", db)
	if !strings.Contains(out, "3 devices, 2 links") {
		t.Fatalf("create: %s", out)
	}
	mustCLI(t, url, "snapshot", "create", "file-1", "-f", certNet, "--db", db)
	if _, errs, code := cli(t, url, "snapshot", "create", "live-1", "-f", certNet, "--db", db); code != 1 || !strings.Contains(errs, "immutable") {
		t.Fatalf("re-create: exit %d %s", code, errs)
	}
	if _, _, code := cli(t, url, "snapshot", "create", "bad name", "-f", certNet, "--db", db); code != 2 {
		t.Fatalf("bad name: exit %d", code)
	}
	list := mustCLI(t, url, "snapshot", "list", "--db", db)
	if !strings.Contains(list, "file-1") || !strings.Contains(list, "live-1") || !strings.Contains(list, "server:"+url+" twin live") {
		t.Fatalf("list: %s", list)
	}
	var s struct {
		Name    string `json:"name"`
		Network struct {
			Devices []struct{ ID string } `json:"devices"`
		} `json:"network"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, url, "-o", "json", "snapshot", "show", "live-1", "--db", db)), &s); err != nil || len(s.Network.Devices) != 3 {
		t.Fatalf("show: %+v %v", s, err)
	}
	// certify against a stored snapshot
	if out, errs, code := cli(t, url, "certify", "-f", "../../apps/certify/testdata/pass.yaml", "--snapshot", "db:live-1", "--db", db); code != 0 {
		t.Fatalf("certify on db:live-1: exit %d %s %s", code, out, errs)
	}
	if _, _, code := cli(t, url, "certify", "-f", "../../apps/certify/testdata/fail.yaml", "--snapshot", "db:live-1", "--db", db); code != 1 {
		t.Fatalf("failing change on db:live-1: exit %d", code)
	}
	if _, _, code := cli(t, url, "certify", "-f", "../../apps/certify/testdata/pass.yaml", "--snapshot", "db:nope", "--db", db); code != 2 {
		t.Fatalf("missing snapshot: exit %d", code)
	}
}
