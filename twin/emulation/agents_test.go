package emulation

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// benchConfigurer pushes config rules with the production gNMI driver.
var benchConfigurer Configurer = gnmiPush{}

type gnmiPush struct{}

func (gnmiPush) Push(ctx context.Context, node NodeInfo, rules []network.ConfigRule) error {
	c, err := tfgnmi.Dial(tfgnmi.Options{Address: node.GNMIAddress, Insecure: true})
	if err != nil {
		return err
	}
	defer c.Close()
	ops := make([]tfgnmi.Op, 0, len(rules))
	for _, r := range rules {
		if r.Action == network.ConfigDelete {
			ops = append(ops, tfgnmi.Op{Kind: tfgnmi.OpDelete, Path: r.ResourceKey})
			continue
		}
		ops = append(ops, tfgnmi.Op{Kind: tfgnmi.OpUpdate, Path: r.ResourceKey, Value: json.RawMessage(r.ResourceValue)})
	}
	_, err = c.Apply(ctx, ops)
	return err
}

var (
	nodeBinOnce sync.Once
	nodeBinPath string
	nodeBinErr  error
)

// benchNodeBinary returns $TWINFLOW_BIN/twinflow-node or builds one (once per process).
func benchNodeBinary(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("TWINFLOW_BIN"); dir != "" {
		p := filepath.Join(dir, "twinflow-node")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	nodeBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tfe-node-")
		if err != nil {
			nodeBinErr = err
			return
		}
		nodeBinPath = filepath.Join(dir, "twinflow-node")
		out, err := exec.Command("go", "build", "-o", nodeBinPath, "github.com/twinflow/twinflow/cmd/twinflow-node").CombinedOutput()
		if err != nil {
			nodeBinErr = err
			nodeBinPath = string(out)
		}
	})
	if nodeBinErr != nil {
		tb.Fatalf("build twinflow-node: %v %s", nodeBinErr, nodeBinPath)
	}
	return nodeBinPath
}
