package pipeline_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// intendedMTU is the MTU of eth1 in the live twin's intended config of dev.
func intendedMTU(t *testing.T, l *lab, dev string) int {
	t.Helper()
	var mtu int
	_ = l.twins.Live().View(func(r *twin.Reader) error {
		dc, err := r.DeviceConfig(dev)
		if err != nil {
			return nil
		}
		var v struct {
			Interfaces struct {
				Interface []struct {
					Name   string `json:"name"`
					Config struct {
						MTU int `json:"mtu"`
					} `json:"config"`
				} `json:"interface"`
			} `json:"interfaces"`
		}
		_ = json.Unmarshal(dc.Config, &v)
		for _, i := range v.Interfaces.Interface {
			if i.Name == "eth1" {
				mtu = i.Config.MTU
			}
		}
		return nil
	})
	return mtu
}

// TestCommitWaitsForTheLiveTwin (issue 21, torture seed 12): devices took a change
// while the repository refused the twin's journal (disk full); the change used to be
// marked failed with the devices at its intent and the twin at the old state. Now
// the twin's update is retried while it fails briefly, and a change whose twin update
// keeps failing stays committing until `change resolve` applies it.
func TestCommitWaitsForTheLiveTwin(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 2)
	devs := []string{l.nodes[0].name, l.nodes[1].name}

	// a short refusal: the commit waits for the twin and ends committed
	c := proposeApproved(t, l, mtuChange("live-1", 1601, devs...))
	l.liveFail.Store(true)
	time.AfterFunc(400*time.Millisecond, func() { l.liveFail.Store(false) })
	c, err := l.svc.Commit(ctx, c.ID, "op", 0)
	if err != nil || c.State != change.StateCommitted {
		t.Fatalf("commit during a brief refusal: %v %v", c.State, err)
	}
	if got := intendedMTU(t, l, devs[0]); got != 1601 {
		t.Fatalf("twin MTU %d after the commit, want 1601", got)
	}

	// a long refusal: the change stays committing (never failed with the devices
	// changed) until resolve applies it to the twin
	defer pipeline.SetLiveRetryFor(300 * time.Millisecond)()
	c = proposeApproved(t, l, mtuChange("live-2", 1602, devs...))
	l.liveFail.Store(true)
	c, err = l.svc.Commit(ctx, c.ID, "op", 0)
	if err == nil || !strings.Contains(err.Error(), "change resolve") {
		t.Fatalf("commit during a long refusal: err %v, want one naming change resolve", err)
	}
	got, gerr := l.svc.Get(ctx, c.ID)
	if gerr != nil || got.State != change.StateCommitting {
		t.Fatalf("state after the long refusal: %v %v, want committing", got.State, gerr)
	}
	if b, _ := json.Marshal(l.configOf(t, devs[0])); !strings.Contains(string(b), "1602") {
		t.Fatalf("device %s does not hold the change: %s", devs[0], b)
	}
	if m := intendedMTU(t, l, devs[0]); m != 1601 {
		t.Fatalf("twin MTU %d while its journal refuses writes, want the old 1601", m)
	}
	l.liveFail.Store(false)
	if _, err := l.svc.ResolveChange(ctx, c.ID, "op"); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if got, _ = l.svc.Get(ctx, c.ID); got.State != change.StateCommitted {
		t.Fatalf("state after resolve: %s, want committed", got.State)
	}
	if m := intendedMTU(t, l, devs[0]); m != 1602 {
		t.Fatalf("twin MTU %d after resolve, want 1602", m)
	}
}
