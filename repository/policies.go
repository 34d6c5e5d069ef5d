package repository

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Policy is a named policy document an administrator sets (issue #18: the push
// policy is named "push"). Version counts the writes of the name, from 1.
type Policy struct {
	Name    string          `json:"name"`
	Doc     json.RawMessage `json:"doc"`
	Actor   string          `json:"actor,omitempty"`
	Version int64           `json:"version"`
	Updated time.Time       `json:"updated"`
}

// Policies stores named policy documents.
type Policies interface {
	// Put creates or replaces the policy p.Name (Version and Updated are set by the
	// store). If ifVersion > 0, it fails with ErrConflict unless the stored version
	// is ifVersion.
	Put(ctx context.Context, p Policy, ifVersion int64) (Policy, error)
	// Get returns the policy (ErrNotFound if none was ever set).
	Get(ctx context.Context, name string) (Policy, error)
}

// maxPolicyDoc bounds a stored policy document.
const maxPolicyDoc = 1 << 20

type policiesRepo struct{ s *store }

func (r policiesRepo) Put(ctx context.Context, p Policy, ifVersion int64) (Policy, error) {
	if err := checkID("policy.name", p.Name); err != nil {
		return Policy{}, err
	}
	if err := checkText("policy.actor", p.Actor); err != nil {
		return Policy{}, err
	}
	if len(p.Doc) > maxPolicyDoc {
		return Policy{}, invalidf("policy.doc", "%d bytes exceeds %d", len(p.Doc), maxPolicyDoc)
	}
	var err error
	if p.Doc, err = normJSON("policy.doc", p.Doc); err != nil {
		return Policy{}, err
	}
	if p.Doc == nil {
		return Policy{}, invalidf("policy.doc", "must not be empty")
	}
	p.Updated = micro(r.s.nowMicro())
	err = r.s.withTx(ctx, func(t txn) error {
		var cur int64
		if err := t.queryRow(ctx, `SELECT version FROM policies WHERE name = $1`, p.Name).Scan(&cur); err != nil && !r.s.d.isNoRows(err) {
			return err
		}
		if ifVersion > 0 && cur != ifVersion {
			return fmt.Errorf("repository: policy %q is at version %d, not %d: %w", p.Name, cur, ifVersion, ErrConflict)
		}
		p.Version = cur + 1
		if cur == 0 {
			_, err := t.exec(ctx, `INSERT INTO policies (name, doc, actor, version, updated) VALUES ($1,$2,$3,$4,$5)`,
				p.Name, string(p.Doc), p.Actor, p.Version, p.Updated.UnixMicro())
			return err
		}
		_, err := t.exec(ctx, `UPDATE policies SET doc = $1, actor = $2, version = $3, updated = $4 WHERE name = $5 AND version = $6`,
			string(p.Doc), p.Actor, p.Version, p.Updated.UnixMicro(), p.Name, cur)
		return err
	})
	if err != nil {
		if r.s.d.isUniqueViolation(err) {
			return Policy{}, fmt.Errorf("repository: policy %q written concurrently: %w", p.Name, ErrConflict)
		}
		return Policy{}, fmt.Errorf("repository: put policy %q: %w", p.Name, err)
	}
	return p, nil
}

func (r policiesRepo) Get(ctx context.Context, name string) (Policy, error) {
	if err := checkID("policy.name", name); err != nil {
		return Policy{}, err
	}
	p := Policy{Name: name}
	var doc string
	var updated int64
	if err := r.s.d.queryRow(ctx, `SELECT doc, actor, version, updated FROM policies WHERE name = $1`, name).Scan(&doc, &p.Actor, &p.Version, &updated); err != nil {
		if r.s.d.isNoRows(err) {
			return Policy{}, fmt.Errorf("repository: policy %q: %w", name, ErrNotFound)
		}
		return Policy{}, fmt.Errorf("repository: get policy %q: %w", name, err)
	}
	p.Doc, p.Updated = json.RawMessage(doc), micro(updated)
	return p, nil
}
