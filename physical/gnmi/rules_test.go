package gnmi

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twinflow/twinflow/models/network"
)

func TestOpsFromRules(t *testing.T) {
	got := OpsFromRules([]network.ConfigRule{
		{Action: network.ConfigSet, ResourceKey: "/interfaces/interface[name=eth1]/config/mtu", ResourceValue: "9000"},
		{Action: network.ConfigDelete, ResourceKey: "/interfaces/interface[name=eth2]/config/description"},
	})
	want := []Op{
		{Kind: OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage("9000")},
		{Kind: OpDelete, Path: "/interfaces/interface[name=eth2]/config/description"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("ops (-want +got):\n%s", d)
	}
	if _, err := BuildSetRequest("", got); err != nil {
		t.Fatalf("the ops do not build a SetRequest: %v", err)
	}
}
