package server

import (
	"os"
	"testing"

	"github.com/twinflow/twinflow/labs/standin/nodetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}
