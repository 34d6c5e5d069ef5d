package gnmi

import (
	"context"
	"encoding/json"

	"github.com/twinflow/twinflow/models/network"
)

// OpsFromRules turns device config rules into Set operations: a set rule is an update
// of its resource key (a gNMI string path) with its JSON value, a delete rule a delete.
func OpsFromRules(rules []network.ConfigRule) []Op {
	ops := make([]Op, 0, len(rules))
	for _, r := range rules {
		if r.Action == network.ConfigDelete {
			ops = append(ops, Op{Kind: OpDelete, Path: r.ResourceKey})
			continue
		}
		ops = append(ops, Op{Kind: OpUpdate, Path: r.ResourceKey, Value: json.RawMessage(r.ResourceValue)})
	}
	return ops
}

// ApplyRules dials the device described by o, applies rules in one SetRequest (all or
// none) and closes the connection. The emulation sandbox pushes configs with it, so
// emulated devices get the very same requests as production ones.
func ApplyRules(ctx context.Context, o Options, rules []network.ConfigRule) error {
	c, err := Dial(o)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Apply(ctx, OpsFromRules(rules))
	return err
}
