package repository

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// ---- monitoring (issue 17, docs/monitoring.md) ----

// KPIRecord is a stored KPI descriptor; Doc is the descriptor (models/monitor) as JSON.
type KPIRecord struct {
	ID      string          `json:"id"`
	Doc     json.RawMessage `json:"doc"`
	Created time.Time       `json:"created"`
}

// KPISample is one value of a KPI at a time.
type KPISample struct {
	KPI   string    `json:"kpi"`
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// AlarmRecord is a stored alarm; Doc is the alarm (models/monitor) as JSON.
type AlarmRecord struct {
	ID      string          `json:"id"`
	Key     string          `json:"key"`
	State   string          `json:"state"`
	Raised  time.Time       `json:"raised"`
	Updated time.Time       `json:"updated"`
	Doc     json.RawMessage `json:"doc"`
}

// AlarmFilter selects alarms for ListAlarms.
type AlarmFilter struct {
	// State, if set, keeps alarms in that state ("raised", "cleared").
	State string
	// AfterID is a pagination cursor: only IDs sorting after it.
	AfterID string
	// Limit bounds the result (0: MaxAlarmList).
	Limit int
}

// Bounds of monitoring queries.
const (
	MaxAlarmList   = 10_000
	MaxKPIRange    = 100_000
	MaxMonitorDocs = 1 << 20
)

// Monitoring stores KPI descriptors and samples, alarms and predicted-vs-observed records.
type Monitoring interface {
	// CreateKPI stores a new descriptor (ErrConflict if the ID exists).
	CreateKPI(ctx context.Context, k KPIRecord) (KPIRecord, error)
	GetKPI(ctx context.Context, id string) (KPIRecord, error)
	// ListKPIs returns every descriptor, by ID.
	ListKPIs(ctx context.Context) ([]KPIRecord, error)
	// DeleteKPI removes a descriptor and its samples (ErrNotFound if absent).
	DeleteKPI(ctx context.Context, id string) error
	// AppendKPISamples stores samples (a sample at a time already stored is ignored).
	// The batch is validated first: one bad sample rejects it all.
	AppendKPISamples(ctx context.Context, samples []KPISample) error
	// KPIRange returns up to limit (≤ MaxKPIRange) samples of a KPI with from ≤ t < to,
	// oldest first.
	KPIRange(ctx context.Context, id string, from, to time.Time, limit int) ([]KPISample, error)
	// PruneKPISamples deletes samples older than before.
	PruneKPISamples(ctx context.Context, before time.Time) (int64, error)
	// PutAlarm creates or replaces an alarm.
	PutAlarm(ctx context.Context, a AlarmRecord) error
	GetAlarm(ctx context.Context, id string) (AlarmRecord, error)
	// ListAlarms returns alarms by ID.
	ListAlarms(ctx context.Context, f AlarmFilter) ([]AlarmRecord, error)
	// PruneAlarms deletes cleared alarms last updated before before.
	PruneAlarms(ctx context.Context, before time.Time) (int64, error)
	// PutComparison stores (or replaces) a change's predicted-vs-observed record.
	PutComparison(ctx context.Context, changeID string, doc json.RawMessage) error
	// GetComparison returns it (ErrNotFound if none).
	GetComparison(ctx context.Context, changeID string) (json.RawMessage, error)
}

func (s *store) Monitoring() Monitoring { return monitoringRepo{s} }

type monitoringRepo struct{ s *store }

func checkDoc(field string, doc json.RawMessage) (json.RawMessage, error) {
	if len(doc) > MaxMonitorDocs {
		return nil, invalidf(field, "larger than %d bytes", MaxMonitorDocs)
	}
	d, err := normJSON(field, doc)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, invalidf(field, "must not be empty")
	}
	return d, nil
}

func (r monitoringRepo) CreateKPI(ctx context.Context, k KPIRecord) (KPIRecord, error) {
	if err := checkID("kpi.id", k.ID); err != nil {
		return KPIRecord{}, err
	}
	doc, err := checkDoc("kpi.doc", k.Doc)
	if err != nil {
		return KPIRecord{}, err
	}
	k.Doc = doc
	if k.Created.IsZero() {
		k.Created = micro(r.s.nowMicro())
	}
	if _, err := r.s.d.exec(ctx, `INSERT INTO kpi_descriptors (id, doc, created) VALUES ($1,$2,$3)`,
		k.ID, string(k.Doc), k.Created.UnixMicro()); err != nil {
		if r.s.d.isUniqueViolation(err) {
			return KPIRecord{}, fmt.Errorf("repository: kpi %q already exists: %w", k.ID, ErrConflict)
		}
		return KPIRecord{}, fmt.Errorf("repository: create kpi %q: %w", k.ID, err)
	}
	k.Created = micro(k.Created.UnixMicro())
	return k, nil
}

func scanKPI(sc scanner) (KPIRecord, error) {
	var k KPIRecord
	var doc string
	var created int64
	if err := sc.Scan(&k.ID, &doc, &created); err != nil {
		return KPIRecord{}, err
	}
	k.Doc, k.Created = json.RawMessage(doc), micro(created)
	return k, nil
}

func (r monitoringRepo) GetKPI(ctx context.Context, id string) (KPIRecord, error) {
	if err := checkID("kpi.id", id); err != nil {
		return KPIRecord{}, err
	}
	k, err := scanKPI(r.s.d.queryRow(ctx, `SELECT id, doc, created FROM kpi_descriptors WHERE id = $1`, id))
	if err != nil {
		if r.s.d.isNoRows(err) {
			return KPIRecord{}, fmt.Errorf("repository: kpi %q: %w", id, ErrNotFound)
		}
		return KPIRecord{}, fmt.Errorf("repository: get kpi %q: %w", id, err)
	}
	return k, nil
}

func (r monitoringRepo) ListKPIs(ctx context.Context) ([]KPIRecord, error) {
	rows, err := r.s.d.query(ctx, `SELECT id, doc, created FROM kpi_descriptors ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("repository: list kpis: %w", err)
	}
	defer rows.Close()
	out := []KPIRecord{}
	for rows.Next() {
		k, err := scanKPI(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list kpis: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (r monitoringRepo) DeleteKPI(ctx context.Context, id string) error {
	if err := checkID("kpi.id", id); err != nil {
		return err
	}
	return r.s.withTx(ctx, func(t txn) error {
		n, err := t.exec(ctx, `DELETE FROM kpi_descriptors WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("repository: delete kpi %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("repository: kpi %q: %w", id, ErrNotFound)
		}
		if _, err := t.exec(ctx, `DELETE FROM kpi_samples WHERE kpi_id = $1`, id); err != nil {
			return fmt.Errorf("repository: delete samples of kpi %q: %w", id, err)
		}
		return nil
	})
}

func (r monitoringRepo) AppendKPISamples(ctx context.Context, samples []KPISample) error {
	if len(samples) == 0 {
		return nil
	}
	if len(samples) > MaxKPIRange {
		return invalidf("samples", "%d samples in one batch; at most %d", len(samples), MaxKPIRange)
	}
	for i, sm := range samples {
		if err := checkID(fmt.Sprintf("samples[%d].kpi", i), sm.KPI); err != nil {
			return err
		}
		if math.IsNaN(sm.Value) || math.IsInf(sm.Value, 0) {
			return invalidf(fmt.Sprintf("samples[%d].value", i), "%v is not a finite number", sm.Value)
		}
		if sm.Time.IsZero() || sm.Time.Before(minTime) || sm.Time.After(maxTime) {
			return invalidf(fmt.Sprintf("samples[%d].time", i), "%v is zero or out of range", sm.Time)
		}
	}
	// Multi-row inserts of up to 500 samples (1,500 parameters: within both backends' limits).
	return r.s.withTx(ctx, func(t txn) error {
		for start := 0; start < len(samples); start += 500 {
			part := samples[start:min(start+500, len(samples))]
			var q strings.Builder
			q.WriteString(`INSERT INTO kpi_samples (kpi_id, t, value) VALUES `)
			args := make([]any, 0, 3*len(part))
			for i, sm := range part {
				if i > 0 {
					q.WriteByte(',')
				}
				fmt.Fprintf(&q, "($%d,$%d,$%d)", 3*i+1, 3*i+2, 3*i+3)
				args = append(args, sm.KPI, sm.Time.UnixNano(), sm.Value)
			}
			q.WriteString(` ON CONFLICT (kpi_id, t) DO NOTHING`)
			if _, err := t.exec(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("repository: append kpi samples: %w", err)
			}
		}
		return nil
	})
}

func (r monitoringRepo) KPIRange(ctx context.Context, id string, from, to time.Time, limit int) ([]KPISample, error) {
	if err := checkID("kpi.id", id); err != nil {
		return nil, err
	}
	if from.IsZero() || to.IsZero() || !from.Before(to) {
		return nil, invalidf("range", "from (%v) must be set and before to (%v)", from, to)
	}
	if limit <= 0 || limit > MaxKPIRange {
		return nil, invalidf("limit", "must be in [1, %d], got %d", MaxKPIRange, limit)
	}
	clamp := func(t time.Time) int64 {
		if t.Before(minTime) {
			return minTime.UnixNano()
		}
		if t.After(maxTime) {
			return maxTime.UnixNano()
		}
		return t.UnixNano()
	}
	rows, err := r.s.d.query(ctx, `SELECT t, value FROM kpi_samples WHERE kpi_id = $1 AND t >= $2 AND t < $3
		ORDER BY t LIMIT $4`, id, clamp(from), clamp(to), limit)
	if err != nil {
		return nil, fmt.Errorf("repository: kpi range: %w", err)
	}
	defer rows.Close()
	out := []KPISample{}
	for rows.Next() {
		var ns int64
		var v float64
		if err := rows.Scan(&ns, &v); err != nil {
			return nil, fmt.Errorf("repository: kpi range: %w", err)
		}
		out = append(out, KPISample{KPI: id, Time: time.Unix(0, ns).UTC(), Value: v})
	}
	return out, rows.Err()
}

func (r monitoringRepo) PruneKPISamples(ctx context.Context, before time.Time) (int64, error) {
	n, err := r.s.d.exec(ctx, `DELETE FROM kpi_samples WHERE t < $1`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("repository: prune kpi samples: %w", err)
	}
	return n, nil
}

func (r monitoringRepo) PutAlarm(ctx context.Context, a AlarmRecord) error {
	if err := checkID("alarm.id", a.ID); err != nil {
		return err
	}
	if err := checkID("alarm.key", a.Key); err != nil {
		return err
	}
	if a.State != "raised" && a.State != "cleared" {
		return invalidf("alarm.state", "must be raised or cleared, got %q", a.State)
	}
	if a.Raised.IsZero() || a.Updated.IsZero() {
		return invalidf("alarm.raised", "raised and updated must be set")
	}
	doc, err := checkDoc("alarm.doc", a.Doc)
	if err != nil {
		return err
	}
	if _, err := r.s.d.exec(ctx, `INSERT INTO alarms (id, akey, state, raised, updated, doc) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (id) DO UPDATE SET akey = excluded.akey, state = excluded.state, updated = excluded.updated, doc = excluded.doc`,
		a.ID, a.Key, a.State, a.Raised.UnixMicro(), a.Updated.UnixMicro(), string(doc)); err != nil {
		return fmt.Errorf("repository: put alarm %q: %w", a.ID, err)
	}
	return nil
}

func scanAlarm(sc scanner) (AlarmRecord, error) {
	var a AlarmRecord
	var raised, updated int64
	var doc string
	if err := sc.Scan(&a.ID, &a.Key, &a.State, &raised, &updated, &doc); err != nil {
		return AlarmRecord{}, err
	}
	a.Raised, a.Updated, a.Doc = micro(raised), micro(updated), json.RawMessage(doc)
	return a, nil
}

func (r monitoringRepo) GetAlarm(ctx context.Context, id string) (AlarmRecord, error) {
	if err := checkID("alarm.id", id); err != nil {
		return AlarmRecord{}, err
	}
	a, err := scanAlarm(r.s.d.queryRow(ctx, `SELECT id, akey, state, raised, updated, doc FROM alarms WHERE id = $1`, id))
	if err != nil {
		if r.s.d.isNoRows(err) {
			return AlarmRecord{}, fmt.Errorf("repository: alarm %q: %w", id, ErrNotFound)
		}
		return AlarmRecord{}, fmt.Errorf("repository: get alarm %q: %w", id, err)
	}
	return a, nil
}

func (r monitoringRepo) ListAlarms(ctx context.Context, f AlarmFilter) ([]AlarmRecord, error) {
	if f.State != "" && f.State != "raised" && f.State != "cleared" {
		return nil, invalidf("state", "must be raised or cleared, got %q", f.State)
	}
	if err := checkText("after", f.AfterID); err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > MaxAlarmList {
		return nil, invalidf("limit", "must be in [0, %d], got %d", MaxAlarmList, f.Limit)
	}
	if f.Limit == 0 {
		f.Limit = MaxAlarmList
	}
	q := `SELECT id, akey, state, raised, updated, doc FROM alarms WHERE id > $1`
	args := []any{f.AfterID}
	if f.State != "" {
		q += ` AND state = $2`
		args = append(args, f.State)
	}
	q += fmt.Sprintf(` ORDER BY id LIMIT %d`, f.Limit)
	rows, err := r.s.d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("repository: list alarms: %w", err)
	}
	defer rows.Close()
	out := []AlarmRecord{}
	for rows.Next() {
		a, err := scanAlarm(rows)
		if err != nil {
			return nil, fmt.Errorf("repository: list alarms: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (r monitoringRepo) PruneAlarms(ctx context.Context, before time.Time) (int64, error) {
	n, err := r.s.d.exec(ctx, `DELETE FROM alarms WHERE state = 'cleared' AND updated < $1`, before.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("repository: prune alarms: %w", err)
	}
	return n, nil
}

func (r monitoringRepo) PutComparison(ctx context.Context, changeID string, doc json.RawMessage) error {
	if err := checkID("change_id", changeID); err != nil {
		return err
	}
	d, err := checkDoc("comparison", doc)
	if err != nil {
		return err
	}
	if _, err := r.s.d.exec(ctx, `INSERT INTO change_comparisons (change_id, doc, created) VALUES ($1,$2,$3)
		ON CONFLICT (change_id) DO UPDATE SET doc = excluded.doc, created = excluded.created`,
		changeID, string(d), r.s.nowMicro()); err != nil {
		return fmt.Errorf("repository: put comparison of %q: %w", changeID, err)
	}
	return nil
}

func (r monitoringRepo) GetComparison(ctx context.Context, changeID string) (json.RawMessage, error) {
	if err := checkID("change_id", changeID); err != nil {
		return nil, err
	}
	var doc string
	if err := r.s.d.queryRow(ctx, `SELECT doc FROM change_comparisons WHERE change_id = $1`, changeID).Scan(&doc); err != nil {
		if r.s.d.isNoRows(err) {
			return nil, fmt.Errorf("repository: comparison of %q: %w", changeID, ErrNotFound)
		}
		return nil, fmt.Errorf("repository: get comparison of %q: %w", changeID, err)
	}
	return json.RawMessage(doc), nil
}
