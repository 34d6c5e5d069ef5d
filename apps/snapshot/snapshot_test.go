package snapshot

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
)

func TestCreateGetListImmutable(t *testing.T) {
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "s.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring, _ := network.Ring(4)
	ft, _ := network.FatTree(4)
	if _, err := Create(ctx, st, "before-upgrade", "file:x", 0, ring); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(ctx, st, "a-fabric", "server:u twin live", 42, ft); err != nil {
		t.Fatal(err)
	}
	// immutable: a second create of the name fails and leaves the first intact
	if _, err := Create(ctx, st, "before-upgrade", "file:y", 0, ft); !errors.Is(err, repository.ErrConflict) {
		t.Fatalf("overwrite: %v", err)
	}
	s, err := Get(ctx, st, "before-upgrade")
	if err != nil || s.Devices != len(ring.Devices) || len(s.Network.Links) != len(ring.Links) || s.Source != "file:x" {
		t.Fatalf("get: %+v %v", s, err)
	}
	// a live-twin checkpoint is not a named snapshot
	if _, err := st.Snapshots().Save(ctx, repository.Snapshot{TwinID: "live", Revision: 3, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	l, err := List(ctx, st)
	if err != nil || len(l) != 2 || l[0].Name != "a-fabric" || l[0].Revision != 42 || l[0].Network != nil {
		t.Fatalf("list: %+v %v", l, err)
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", string(make([]byte, 101))} {
		if _, err := Create(ctx, st, bad, "", 0, ring); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if _, err := Create(ctx, st, "broken", "", 0, &network.Network{Links: []network.Link{{ID: "l"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid network stored: %v", err)
	}
	if _, err := Get(ctx, st, "nope"); !errors.Is(err, repository.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}
