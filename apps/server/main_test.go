package server

import (
	"os"
	"testing"

	"github.com/twinflow/twinflow/labs/standin/nodetest"
)

// TestMain gives the tests their own state directory: demo token files and generated
// certificates never touch the user's.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "twinflow-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	nodetest.Cleanup()
	os.RemoveAll(dir)
	os.Exit(code)
}
