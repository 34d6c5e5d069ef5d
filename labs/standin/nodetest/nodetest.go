// Package nodetest gives tests a twinflow-node binary: $TWINFLOW_BIN/twinflow-node when
// present, otherwise one built once per test process with `go build`. Call Cleanup from
// TestMain to remove a built binary.
package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	once  sync.Once
	bin   string
	dir   string
	berr  error
	bmsgs []byte
)

// Binary returns the path of a twinflow-node binary or fails the test.
func Binary(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if d := os.Getenv("TWINFLOW_BIN"); d != "" {
			p := filepath.Join(d, "twinflow-node")
			if _, err := os.Stat(p); err == nil {
				bin = p
				return
			}
		}
		dir, berr = os.MkdirTemp("", "tfn-bin-")
		if berr != nil {
			return
		}
		bin = filepath.Join(dir, "twinflow-node")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/twinflow/twinflow/cmd/twinflow-node")
		bmsgs, berr = cmd.CombinedOutput()
	})
	if berr != nil {
		t.Fatalf("build twinflow-node: %v\n%s", berr, bmsgs)
	}
	return bin
}

// Cleanup removes a binary built by Binary.
func Cleanup() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
