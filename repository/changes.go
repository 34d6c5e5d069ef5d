package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

type changesRepo struct{ s *store }

const changeCols = `id, twin_id, title, author, state, payload, report, version, created, updated`

func scanChange(r scanner) (Change, error) {
	var c Change
	var payload, report *string
	var created, updated int64
	var state string
	if err := r.Scan(&c.ID, &c.TwinID, &c.Title, &c.Author, &state, &payload, &report, &c.Version, &created, &updated); err != nil {
		return Change{}, err
	}
	c.State = ChangeState(state)
	c.Payload, c.Report = rawOrNil(payload), rawOrNil(report)
	c.Created, c.Updated = micro(created), micro(updated)
	return c, nil
}

func digest(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (r changesRepo) Create(ctx context.Context, c Change) (Change, error) {
	c, _, err := r.CreateWith(ctx, c)
	return c, err
}

func (r changesRepo) CreateWith(ctx context.Context, c Change, steps ...TransitionRequest) (Change, []Transition, error) {
	if err := checkID("change.id", c.ID); err != nil {
		return Change{}, nil, err
	}
	if err := checkID("change.twin_id", c.TwinID); err != nil {
		return Change{}, nil, err
	}
	if err := checkText("change.author", c.Author); err != nil {
		return Change{}, nil, err
	}
	if err := checkLongText("change.title", c.Title); err != nil {
		return Change{}, nil, err
	}
	if c.State != "" && c.State != StateDraft {
		return Change{}, nil, invalidf("change.state", "a new change starts in %q, got %q", StateDraft, c.State)
	}
	payload, err := normJSON("change.payload", c.Payload)
	if err != nil {
		return Change{}, nil, err
	}
	report, err := normJSON("change.report", c.Report)
	if err != nil {
		return Change{}, nil, err
	}
	reports, err := checkSteps(StateDraft, steps)
	if err != nil {
		return Change{}, nil, err
	}
	now := r.s.nowMicro()
	c.State, c.Payload, c.Report, c.Version = StateDraft, payload, report, 0
	c.Created, c.Updated = micro(now), micro(now)
	created := c
	var trs []Transition
	var recs []*LedgerRecord
	err = r.s.withLedgerTx(ctx, func(t txn) error {
		c, trs, recs = created, nil, nil
		_, err := t.exec(ctx, `INSERT INTO changes (`+changeCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
			c.ID, c.TwinID, c.Title, c.Author, string(c.State), nullable(payload), nullable(report), c.Version, now, now)
		if err != nil {
			if r.s.d.isUniqueViolation(err) {
				return fmt.Errorf("repository: change %q already exists: %w", c.ID, ErrConflict)
			}
			return fmt.Errorf("repository: create change %q: %w", c.ID, err)
		}
		ev, _ := json.Marshal(map[string]any{
			"twin_id": c.TwinID, "title": c.Title, "author": c.Author, "state": c.State,
			"payload_sha256": digest(payload),
		})
		if _, err = r.s.appendLedger(t, LedgerEntry{Kind: KindChangeCreated, Subject: c.ID, Payload: ev}); err != nil {
			return err
		}
		if len(steps) > 0 {
			c, trs, recs, err = r.steps(ctx, t, c.ID, steps, reports, now)
		}
		return err
	})
	if err != nil {
		return Change{}, nil, err
	}
	return c, withSeqs(trs, recs), nil
}

func (r changesRepo) Get(ctx context.Context, id string) (Change, error) {
	if err := checkID("change.id", id); err != nil {
		return Change{}, err
	}
	c, err := scanChange(r.s.d.queryRow(ctx, `SELECT `+changeCols+` FROM changes WHERE id = $1`, id))
	if err != nil {
		if r.s.d.isNoRows(err) {
			return Change{}, fmt.Errorf("repository: change %q: %w", id, ErrNotFound)
		}
		return Change{}, fmt.Errorf("repository: get change %q: %w", id, err)
	}
	return c, nil
}

func (r changesRepo) List(ctx context.Context, f ChangeFilter) ([]Change, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.TwinID != "" {
		add("twin_id = $%d", f.TwinID)
	}
	if f.State != "" {
		if !f.State.Valid() {
			return nil, invalidf("filter.state", "unknown state %q", f.State)
		}
		add("state = $%d", string(f.State))
	}
	if !f.UpdatedAfter.IsZero() {
		add("updated > $%d", f.UpdatedAfter.UnixMicro())
	}
	if f.AfterID != "" {
		add("id > $%d", f.AfterID)
	}
	if f.Limit < 0 {
		return nil, invalidf("filter.limit", "must not be negative, got %d", f.Limit)
	}
	q := `SELECT ` + changeCols + ` FROM changes`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := r.s.d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("repository: list changes: %w", err)
	}
	defer rows.Close()
	out := []Change{}
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list changes: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("repository: list changes: %w", err)
	}
	return out, nil
}

func (r changesRepo) Transition(ctx context.Context, id string, req TransitionRequest) (Change, Transition, error) {
	c, trs, err := r.TransitionSteps(ctx, id, req)
	if err != nil {
		return Change{}, Transition{}, err
	}
	return c, trs[0], nil
}

// checkSteps validates transition steps starting from state from (the empty state
// accepts any first From) and returns their normalized reports.
func checkSteps(from ChangeState, steps []TransitionRequest) ([]json.RawMessage, error) {
	reports := make([]json.RawMessage, len(steps))
	for i, req := range steps {
		field := "transition"
		if len(steps) > 1 {
			field = fmt.Sprintf("transition[%d]", i)
		}
		if !req.From.Valid() {
			return nil, invalidf(field+".from", "unknown state %q", req.From)
		}
		if !req.To.Valid() {
			return nil, invalidf(field+".to", "unknown state %q", req.To)
		}
		if from != "" && req.From != from {
			return nil, invalidf(field+".from", "is %q, but the change is %q at this step", req.From, from)
		}
		if !CanTransition(req.From, req.To) {
			return nil, fmt.Errorf("repository: %s: %s -> %s: %w", field, req.From, req.To, ErrIllegalTransition)
		}
		if err := checkText(field+".actor", req.Actor); err != nil {
			return nil, err
		}
		if err := checkLongText(field+".reason", req.Reason); err != nil {
			return nil, err
		}
		var err error
		if reports[i], err = normJSON(field+".report", req.Report); err != nil {
			return nil, err
		}
		for j, e := range req.Ledger {
			if e.Kind == "" || len(e.Kind) > 64 || !kindRE.MatchString(e.Kind) {
				return nil, invalidf(fmt.Sprintf("%s.ledger[%d].kind", field, j), "%q must be lower-case dotted words (e.g. device.software)", e.Kind)
			}
			if err := checkID(fmt.Sprintf("%s.ledger[%d].subject", field, j), e.Subject); err != nil {
				return nil, err
			}
		}
		from = req.To
	}
	return reports, nil
}

func (r changesRepo) TransitionSteps(ctx context.Context, id string, steps ...TransitionRequest) (Change, []Transition, error) {
	if err := checkID("change.id", id); err != nil {
		return Change{}, nil, err
	}
	if len(steps) == 0 {
		return Change{}, nil, invalidf("transition", "no steps")
	}
	reports, err := checkSteps("", steps)
	if err != nil {
		return Change{}, nil, err
	}
	now := r.s.nowMicro()
	var c Change
	var trs []Transition
	var recs []*LedgerRecord
	err = r.s.withLedgerTx(ctx, func(t txn) error {
		var err error
		c, trs, recs, err = r.steps(ctx, t, id, steps, reports, now)
		return err
	})
	if err != nil {
		return Change{}, nil, err
	}
	return c, withSeqs(trs, recs), nil
}

// steps applies checked transitions in order inside t (see step): the change after
// the last one, the transitions and their ledger records (sequence numbers are
// assigned at the commit).
func (r changesRepo) steps(ctx context.Context, t txn, id string, steps []TransitionRequest, reports []json.RawMessage, now int64) (Change, []Transition, []*LedgerRecord, error) {
	var c Change
	trs := make([]Transition, 0, len(steps))
	recs := make([]*LedgerRecord, 0, len(steps))
	for i, req := range steps {
		var tr Transition
		var rec *LedgerRecord
		var err error
		if c, tr, rec, err = r.step(ctx, t, id, req, reports[i], now); err != nil {
			return Change{}, nil, nil, err
		}
		trs, recs = append(trs, tr), append(recs, rec)
	}
	return c, trs, recs, nil
}

// withSeqs copies the ledger sequence numbers, known once the transaction committed,
// into the transitions.
func withSeqs(trs []Transition, recs []*LedgerRecord) []Transition {
	for i := range trs {
		trs[i].LedgerSeq = recs[i].Seq
	}
	return trs
}

// step applies one checked transition inside t: the change row (only if it is still
// in req.From), the ledger record, the transition row, then req.Ledger. The ledger
// record (and so the transition's LedgerSeq) is completed when t commits.
func (r changesRepo) step(ctx context.Context, t txn, id string, req TransitionRequest, report json.RawMessage, now int64) (Change, Transition, *LedgerRecord, error) {
	// Optimistic check: only a change still in req.From moves. Concurrent writers
	// block on the row lock and then see the new state (PostgreSQL re-checks the
	// WHERE clause; sqlite serializes writers).
	c, err := scanChange(t.queryRow(ctx, `UPDATE changes SET state = $1, version = version + 1, updated = $2,
		report = COALESCE($3, report) WHERE id = $4 AND state = $5 RETURNING `+changeCols,
		string(req.To), now, nullable(report), id, string(req.From)))
	if err != nil {
		if !r.s.d.isNoRows(err) {
			return Change{}, Transition{}, nil, fmt.Errorf("repository: transition change %q: %w", id, err)
		}
		var cur string
		err = t.queryRow(ctx, `SELECT state FROM changes WHERE id = $1`, id).Scan(&cur)
		if r.s.d.isNoRows(err) {
			return Change{}, Transition{}, nil, fmt.Errorf("repository: change %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return Change{}, Transition{}, nil, fmt.Errorf("repository: transition change %q: %w", id, err)
		}
		return Change{}, Transition{}, nil, fmt.Errorf("repository: change %q is %s, not %s: %w", id, cur, req.From, ErrConflict)
	}
	ev, _ := json.Marshal(map[string]any{
		"twin_id": c.TwinID, "from": req.From, "to": req.To, "version": c.Version,
		"actor": req.Actor, "reason": req.Reason, "report_sha256": digest(report),
	})
	rec, err := r.s.appendLedger(t, LedgerEntry{Kind: KindChangeTransition, Subject: id, Payload: ev})
	if err != nil {
		return Change{}, Transition{}, nil, err
	}
	tr := Transition{ChangeID: id, Version: c.Version, From: req.From, To: req.To, Actor: req.Actor,
		Reason: req.Reason, Report: report, At: micro(now)}
	// nothing in the transaction reads the row back: written at the flush, when the
	// ledger record has its sequence number
	t.(*ledgerTxn).deferWrite(func() (string, []any) {
		return `INSERT INTO change_transitions (change_id, version, from_state, to_state, actor, reason, report, at, ledger_seq)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
			[]any{id, c.Version, string(req.From), string(req.To), req.Actor, req.Reason, nullable(report), now, rec.Seq}
	})
	for _, e := range req.Ledger {
		if _, err := r.s.appendLedger(t, e); err != nil {
			return Change{}, Transition{}, nil, err
		}
	}
	return c, tr, rec, nil
}

func (r changesRepo) Transitions(ctx context.Context, id string) ([]Transition, error) {
	if _, err := r.Get(ctx, id); err != nil {
		return nil, err
	}
	rows, err := r.s.d.query(ctx, `SELECT version, from_state, to_state, actor, reason, report, at, ledger_seq
		FROM change_transitions WHERE change_id = $1 ORDER BY version`, id)
	if err != nil {
		return nil, fmt.Errorf("repository: transitions of %q: %w", id, err)
	}
	defer rows.Close()
	out := []Transition{}
	for rows.Next() {
		t := Transition{ChangeID: id}
		var from, to string
		var report *string
		var at int64
		if err := rows.Scan(&t.Version, &from, &to, &t.Actor, &t.Reason, &report, &at, &t.LedgerSeq); err != nil {
			return nil, fmt.Errorf("repository: transitions of %q: %w", id, err)
		}
		t.From, t.To, t.Report, t.At = ChangeState(from), ChangeState(to), rawOrNil(report), micro(at)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("repository: transitions of %q: %w", id, err)
	}
	return out, nil
}

// ---- ledger ----

type ledgerRepo struct{ s *store }

// appendLedger queues e in t. Its sequence number, time and hashes are assigned when
// the transaction is flushed (see ledgerTxn.flush, which locks the head then): the
// returned record is complete once the transaction has committed.
func (s *store) appendLedger(t txn, e LedgerEntry) (*LedgerRecord, error) {
	if err := checkKind(e.Kind); err != nil {
		return nil, err
	}
	if err := checkID("ledger.subject", e.Subject); err != nil {
		return nil, err
	}
	payload, err := normJSON("ledger.payload", e.Payload)
	if err != nil {
		return nil, err
	}
	if payload == nil {
		payload = json.RawMessage("{}")
	}
	lt, ok := t.(*ledgerTxn)
	if !ok {
		return nil, fmt.Errorf("repository: ledger append outside a ledger transaction")
	}
	rec := &LedgerRecord{Kind: e.Kind, Subject: e.Subject, Payload: payload}
	lt.records = append(lt.records, rec)
	lt.deferWrite(func() (string, []any) {
		return `INSERT INTO ledger (seq, at, kind, subject, payload, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
			[]any{rec.Seq, rec.Time.UnixMicro(), rec.Kind, rec.Subject, string(rec.Payload), rec.PrevHash, rec.Hash}
	})
	return rec, nil
}

func (r ledgerRepo) Append(ctx context.Context, e LedgerEntry) (LedgerRecord, error) {
	var rec *LedgerRecord
	err := r.s.withLedgerTx(ctx, func(t txn) error {
		var err error
		rec, err = r.s.appendLedger(t, e)
		return err
	})
	if err != nil {
		return LedgerRecord{}, err
	}
	return *rec, nil
}

const ledgerCols = `seq, at, kind, subject, payload, prev_hash, hash`

func scanLedger(r scanner) (LedgerRecord, error) {
	var rec LedgerRecord
	var at int64
	var payload string
	if err := r.Scan(&rec.Seq, &at, &rec.Kind, &rec.Subject, &payload, &rec.PrevHash, &rec.Hash); err != nil {
		return LedgerRecord{}, err
	}
	rec.Time = time.UnixMicro(at).UTC()
	rec.Payload = json.RawMessage(payload)
	return rec, nil
}

func (r ledgerRepo) List(ctx context.Context, from int64, limit int) ([]LedgerRecord, error) {
	if limit < 0 {
		return nil, invalidf("limit", "must not be negative, got %d", limit)
	}
	q := `SELECT ` + ledgerCols + ` FROM ledger WHERE seq >= $1 ORDER BY seq`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := r.s.d.query(ctx, q, from)
	if err != nil {
		return nil, fmt.Errorf("repository: list ledger: %w", err)
	}
	defer rows.Close()
	out := []LedgerRecord{}
	for rows.Next() {
		rec, err := scanLedger(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list ledger: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("repository: list ledger: %w", err)
	}
	return out, nil
}

// Verify reads the whole ledger and its head in one consistent snapshot.
func (r ledgerRepo) Verify(ctx context.Context) (VerifyResult, error) {
	t, err := r.s.d.beginRead(ctx)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("repository: verify ledger: %w", err)
	}
	defer func() { _ = t.rollback(context.WithoutCancel(ctx)) }()
	rows, err := t.query(ctx, `SELECT `+ledgerCols+` FROM ledger ORDER BY seq`)
	if err != nil {
		return VerifyResult{}, fmt.Errorf("repository: verify ledger: %w", err)
	}
	v := newChainVerifier()
	for rows.Next() {
		rec, err := scanLedger(rows)
		if err != nil {
			rows.Close()
			return VerifyResult{}, fmt.Errorf("repository: verify ledger: %w", err)
		}
		v.add(rec) // keeps counting after the first bad record
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return VerifyResult{}, fmt.Errorf("repository: verify ledger: %w", err)
	}
	var headSeq int64
	var headHash []byte
	if err := t.queryRow(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&headSeq, &headHash); err != nil {
		if r.s.d.isNoRows(err) {
			bad := int64(0)
			return VerifyResult{Records: v.n, FirstBad: &bad, Reason: "ledger head row is missing"}, nil
		}
		return VerifyResult{}, fmt.Errorf("repository: verify ledger head: %w", err)
	}
	return v.finish(headSeq, headHash), nil
}
