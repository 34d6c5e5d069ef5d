package emulation

import (
	"context"

	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// benchConfigurer pushes config rules with the production gNMI driver.
var benchConfigurer Configurer = gnmiPush{}

type gnmiPush struct{}

func (gnmiPush) Push(ctx context.Context, node NodeInfo, rules []network.ConfigRule) error {
	return tfgnmi.ApplyRules(ctx, tfgnmi.Options{Address: node.GNMIAddress, Insecure: true}, rules)
}
