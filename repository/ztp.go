package repository

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ---- zero-touch provisioning (issue 17 item 4) ----

// ZTPRole is one version of a provisioning role: its spec (the role document with
// its day-0 configuration template, kept verbatim as JSON) and who wrote it. Roles
// are never edited in place: each change is a new version.
type ZTPRole struct {
	Name    string          `json:"name"`
	Version int64           `json:"version"`
	Spec    json.RawMessage `json:"spec"`
	Author  string          `json:"author,omitempty"`
	Created time.Time       `json:"created"`
}

// ZTPDevice is a device provisioned (or being provisioned) by role.
type ZTPDevice struct {
	ID          string `json:"id"`
	Role        string `json:"role,omitempty"`
	RoleVersion int64  `json:"role_version,omitempty"`
	State       string `json:"state"`
	// Registration is what the device (or the operator adding it) said about itself.
	Registration json.RawMessage `json:"registration"`
	ChangeID     string          `json:"change_id,omitempty"`
	Detail       string          `json:"detail,omitempty"`
	Created      time.Time       `json:"created"`
	Updated      time.Time       `json:"updated"`
}

// ZTP stores provisioning roles and devices.
type ZTP interface {
	// PutRole stores spec as the next version of role name and returns it.
	PutRole(ctx context.Context, name string, spec json.RawMessage, author string) (ZTPRole, error)
	// Role returns version of role name (version 0: the latest).
	Role(ctx context.Context, name string, version int64) (ZTPRole, error)
	// Roles returns the latest version of every role, by name.
	Roles(ctx context.Context) ([]ZTPRole, error)
	// RoleVersions returns every version of role name, oldest first.
	RoleVersions(ctx context.Context, name string) ([]ZTPRole, error)
	// PutDevice creates or replaces a device record (Created is kept on replace).
	PutDevice(ctx context.Context, d ZTPDevice) (ZTPDevice, error)
	Device(ctx context.Context, id string) (ZTPDevice, error)
	Devices(ctx context.Context) ([]ZTPDevice, error)
}

type ztpRepo struct{ s *store }

func (s *store) ZTP() ZTP { return ztpRepo{s} }

const roleCols = `name, version, spec, author, created`

func scanRole(r scanner) (ZTPRole, error) {
	var x ZTPRole
	var spec string
	var created int64
	if err := r.Scan(&x.Name, &x.Version, &spec, &x.Author, &created); err != nil {
		return ZTPRole{}, err
	}
	x.Spec, x.Created = json.RawMessage(spec), micro(created)
	return x, nil
}

func (r ztpRepo) PutRole(ctx context.Context, name string, spec json.RawMessage, author string) (ZTPRole, error) {
	if err := checkID("role.name", name); err != nil {
		return ZTPRole{}, err
	}
	if err := checkText("role.author", author); err != nil {
		return ZTPRole{}, err
	}
	spec, err := normJSON("role.spec", spec)
	if err != nil {
		return ZTPRole{}, err
	}
	if spec == nil {
		return ZTPRole{}, invalidf("role.spec", "must not be empty")
	}
	out := ZTPRole{Name: name, Spec: spec, Author: author, Created: micro(r.s.nowMicro())}
	err = r.s.withTx(ctx, func(t txn) error {
		if err := t.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM ztp_roles WHERE name = $1`, name).Scan(&out.Version); err != nil {
			return err
		}
		_, err := t.exec(ctx, `INSERT INTO ztp_roles (`+roleCols+`) VALUES ($1,$2,$3,$4,$5)`,
			name, out.Version, string(spec), author, out.Created.UnixMicro())
		return err
	})
	if err != nil {
		if r.s.d.isUniqueViolation(err) {
			return ZTPRole{}, fmt.Errorf("repository: role %q: a concurrent version was stored: %w", name, ErrConflict)
		}
		return ZTPRole{}, fmt.Errorf("repository: put role %q: %w", name, err)
	}
	return out, nil
}

func (r ztpRepo) Role(ctx context.Context, name string, version int64) (ZTPRole, error) {
	if err := checkID("role.name", name); err != nil {
		return ZTPRole{}, err
	}
	q, args := `SELECT `+roleCols+` FROM ztp_roles WHERE name = $1 ORDER BY version DESC LIMIT 1`, []any{name}
	if version > 0 {
		q, args = `SELECT `+roleCols+` FROM ztp_roles WHERE name = $1 AND version = $2`, []any{name, version}
	}
	x, err := scanRole(r.s.d.queryRow(ctx, q, args...))
	if err != nil {
		if r.s.d.isNoRows(err) {
			return ZTPRole{}, fmt.Errorf("repository: role %q version %d: %w", name, version, ErrNotFound)
		}
		return ZTPRole{}, fmt.Errorf("repository: get role %q: %w", name, err)
	}
	return x, nil
}

func (r ztpRepo) listRoles(ctx context.Context, q string, args ...any) ([]ZTPRole, error) {
	rows, err := r.s.d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("repository: list roles: %w", err)
	}
	defer rows.Close()
	out := []ZTPRole{}
	for rows.Next() {
		x, err := scanRole(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list roles: %w", err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

func (r ztpRepo) Roles(ctx context.Context) ([]ZTPRole, error) {
	return r.listRoles(ctx, `SELECT `+roleCols+` FROM ztp_roles r WHERE version = (SELECT MAX(version) FROM ztp_roles m WHERE m.name = r.name) ORDER BY name`)
}

func (r ztpRepo) RoleVersions(ctx context.Context, name string) ([]ZTPRole, error) {
	if err := checkID("role.name", name); err != nil {
		return nil, err
	}
	return r.listRoles(ctx, `SELECT `+roleCols+` FROM ztp_roles WHERE name = $1 ORDER BY version`, name)
}

const ztpDevCols = `id, role, role_version, state, registration, change_id, detail, created, updated`

func scanZTPDevice(r scanner) (ZTPDevice, error) {
	var d ZTPDevice
	var reg string
	var created, updated int64
	if err := r.Scan(&d.ID, &d.Role, &d.RoleVersion, &d.State, &reg, &d.ChangeID, &d.Detail, &created, &updated); err != nil {
		return ZTPDevice{}, err
	}
	d.Registration, d.Created, d.Updated = json.RawMessage(reg), micro(created), micro(updated)
	return d, nil
}

func (r ztpRepo) PutDevice(ctx context.Context, d ZTPDevice) (ZTPDevice, error) {
	if err := checkID("device.id", d.ID); err != nil {
		return ZTPDevice{}, err
	}
	if err := checkID("device.state", d.State); err != nil {
		return ZTPDevice{}, err
	}
	for f, v := range map[string]string{"device.role": d.Role, "device.change_id": d.ChangeID} {
		if err := checkText(f, v); err != nil {
			return ZTPDevice{}, err
		}
	}
	if len(d.Detail) > 4096 {
		d.Detail = d.Detail[:4096]
	}
	reg, err := normJSON("device.registration", d.Registration)
	if err != nil {
		return ZTPDevice{}, err
	}
	if reg == nil {
		reg = json.RawMessage("{}")
	}
	d.Registration = reg
	now := r.s.nowMicro()
	err = r.s.withTx(ctx, func(t txn) error {
		var created int64
		switch err := t.queryRow(ctx, `SELECT created FROM ztp_devices WHERE id = $1`, d.ID).Scan(&created); {
		case err == nil:
			_, err = t.exec(ctx, `UPDATE ztp_devices SET role = $2, role_version = $3, state = $4, registration = $5, change_id = $6, detail = $7, updated = $8 WHERE id = $1`,
				d.ID, d.Role, d.RoleVersion, d.State, string(reg), d.ChangeID, d.Detail, now)
			d.Created = micro(created)
			return err
		case r.s.d.isNoRows(err):
			_, err = t.exec(ctx, `INSERT INTO ztp_devices (`+ztpDevCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8)`,
				d.ID, d.Role, d.RoleVersion, d.State, string(reg), d.ChangeID, d.Detail, now)
			d.Created = micro(now)
			return err
		default:
			return err
		}
	})
	if err != nil {
		if r.s.d.isUniqueViolation(err) {
			return ZTPDevice{}, fmt.Errorf("repository: ztp device %q: stored concurrently: %w", d.ID, ErrConflict)
		}
		return ZTPDevice{}, fmt.Errorf("repository: put ztp device %q: %w", d.ID, err)
	}
	d.Updated = micro(now)
	return d, nil
}

func (r ztpRepo) Device(ctx context.Context, id string) (ZTPDevice, error) {
	if err := checkID("device.id", id); err != nil {
		return ZTPDevice{}, err
	}
	d, err := scanZTPDevice(r.s.d.queryRow(ctx, `SELECT `+ztpDevCols+` FROM ztp_devices WHERE id = $1`, id))
	if err != nil {
		if r.s.d.isNoRows(err) {
			return ZTPDevice{}, fmt.Errorf("repository: ztp device %q: %w", id, ErrNotFound)
		}
		return ZTPDevice{}, fmt.Errorf("repository: get ztp device %q: %w", id, err)
	}
	return d, nil
}

func (r ztpRepo) Devices(ctx context.Context) ([]ZTPDevice, error) {
	rows, err := r.s.d.query(ctx, `SELECT `+ztpDevCols+` FROM ztp_devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("repository: list ztp devices: %w", err)
	}
	defer rows.Close()
	out := []ZTPDevice{}
	for rows.Next() {
		d, err := scanZTPDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list ztp devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
