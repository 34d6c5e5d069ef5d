package repository_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/twinflow/twinflow/repository"
)

// TestZTP: provisioning roles are versioned (a new version per put, older ones kept)
// and device records are created and replaced, on every backend (REQ-AUTO-01).
func TestZTP(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			z := openT(t, b.dsn(t)).ZTP()
			r1, err := z.PutRole(ctx, "leaf", json.RawMessage(`{"v":1}`), "alice")
			if err != nil || r1.Version != 1 {
				t.Fatalf("put v1: %+v %v", r1, err)
			}
			r2, err := z.PutRole(ctx, "leaf", json.RawMessage(`{"v":2}`), "bob")
			if err != nil || r2.Version != 2 {
				t.Fatalf("put v2: %+v %v", r2, err)
			}
			if _, err := z.PutRole(ctx, "spine", json.RawMessage(`{"v":1}`), "alice"); err != nil {
				t.Fatal(err)
			}
			latest, err := z.Role(ctx, "leaf", 0)
			if err != nil || latest.Version != 2 || string(latest.Spec) != `{"v":2}` || latest.Author != "bob" {
				t.Fatalf("latest: %+v %v", latest, err)
			}
			old, err := z.Role(ctx, "leaf", 1)
			if err != nil || string(old.Spec) != `{"v":1}` {
				t.Fatalf("v1: %+v %v", old, err)
			}
			if all, err := z.Roles(ctx); err != nil || len(all) != 2 || all[0].Name != "leaf" || all[0].Version != 2 || all[1].Name != "spine" {
				t.Fatalf("roles: %+v %v", all, err)
			}
			if vs, err := z.RoleVersions(ctx, "leaf"); err != nil || len(vs) != 2 {
				t.Fatalf("versions: %+v %v", vs, err)
			}
			wantErr(t, func() error { _, err := z.Role(ctx, "leaf", 9); return err }(), repository.ErrNotFound, "leaf")
			wantErr(t, func() error { _, err := z.PutRole(ctx, "", json.RawMessage(`{}`), ""); return err }(), repository.ErrInvalid, "")
			wantErr(t, func() error { _, err := z.PutRole(ctx, "x", json.RawMessage(`{`), ""); return err }(), repository.ErrInvalid, "")

			d, err := z.PutDevice(ctx, repository.ZTPDevice{ID: "r9", State: "registered", Registration: json.RawMessage(`{"name":"r9"}`)})
			if err != nil || d.Created.IsZero() {
				t.Fatalf("put device: %+v %v", d, err)
			}
			d.State, d.Role, d.RoleVersion, d.ChangeID = "enabled", "leaf", 2, "chg-1"
			if _, err := z.PutDevice(ctx, d); err != nil {
				t.Fatal(err)
			}
			got, err := z.Device(ctx, "r9")
			if err != nil || got.State != "enabled" || got.RoleVersion != 2 || got.ChangeID != "chg-1" || !got.Created.Equal(d.Created) {
				t.Fatalf("device: %+v %v", got, err)
			}
			if all, err := z.Devices(ctx); err != nil || len(all) != 1 {
				t.Fatalf("devices: %+v %v", all, err)
			}
			wantErr(t, func() error { _, err := z.Device(ctx, "nope"); return err }(), repository.ErrNotFound, "nope")
		})
	}
}
