package repository

import (
	"context"
	"fmt"
	"math"
	"time"
)

type telemetryRepo struct{ s *store }

// maxBuckets bounds a downsampled Range result.
const maxBuckets = 1_000_000

func checkSeries(field string, dev, iface, metric string) error {
	if err := checkID(field+".device", dev); err != nil {
		return err
	}
	if err := checkText(field+".interface", iface); err != nil {
		return err
	}
	return checkID(field+".metric", metric)
}

// minTime and maxTime bound sample times to what int64 nanoseconds represent.
var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

func (r telemetryRepo) Append(ctx context.Context, samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	// Validate the whole batch first: a bad sample rejects it and nothing is stored.
	var last Series
	for i := range samples {
		sm := &samples[i]
		k := Series{sm.Device, sm.Interface, sm.Metric}
		if i == 0 || k != last {
			if err := checkSeries(fmt.Sprintf("samples[%d]", i), sm.Device, sm.Interface, sm.Metric); err != nil {
				return err
			}
			last = k
		}
		if math.IsNaN(sm.Value) || math.IsInf(sm.Value, 0) {
			return invalidf(fmt.Sprintf("samples[%d].value", i), "%v is not a finite number", sm.Value)
		}
		if sm.Time.IsZero() || sm.Time.Before(minTime) || sm.Time.After(maxTime) {
			return invalidf(fmt.Sprintf("samples[%d].time", i), "%v is zero or out of range", sm.Time)
		}
	}
	ids, err := r.s.resolveSeries(ctx, samples)
	if err != nil {
		return err
	}
	rows := make([]sampleRow, len(samples))
	for i := range samples {
		rows[i] = sampleRow{series: ids[i], ts: samples[i].Time.UnixNano(), value: samples[i].Value}
	}
	if err := r.s.d.copySamples(ctx, rows); err != nil {
		return fmt.Errorf("repository: append %d samples: %w", len(rows), err)
	}
	return nil
}

// resolveSeries maps each sample to its series ID, creating missing series in their own
// committed transaction (an empty series is harmless if the sample write then fails).
func (s *store) resolveSeries(ctx context.Context, samples []Sample) ([]int32, error) {
	ids := make([]int32, len(samples))
	var missing []Series
	s.seriesMu.Lock()
	var last Series
	var lastID int32 = -1
	for i := range samples {
		k := Series{samples[i].Device, samples[i].Interface, samples[i].Metric}
		if lastID >= 0 && k == last {
			ids[i] = lastID
			continue
		}
		id, ok := s.series[k]
		if !ok {
			missing = append(missing, k)
			id = -1
		}
		ids[i], last, lastID = id, k, id
	}
	s.seriesMu.Unlock()
	if len(missing) == 0 {
		return ids, nil
	}
	created := map[Series]int32{}
	err := s.withTx(ctx, func(t txn) error {
		for _, k := range missing {
			if _, ok := created[k]; ok {
				continue
			}
			if _, err := t.exec(ctx, `INSERT INTO telemetry_series (device, iface, metric) VALUES ($1,$2,$3)
				ON CONFLICT (device, iface, metric) DO NOTHING`, k.Device, k.Interface, k.Metric); err != nil {
				return fmt.Errorf("repository: create series %v: %w", k, err)
			}
			var id int64
			if err := t.queryRow(ctx, `SELECT id FROM telemetry_series WHERE device = $1 AND iface = $2 AND metric = $3`,
				k.Device, k.Interface, k.Metric).Scan(&id); err != nil {
				return fmt.Errorf("repository: read series %v: %w", k, err)
			}
			created[k] = int32(id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.seriesMu.Lock()
	for k, id := range created {
		s.series[k] = id
	}
	s.seriesMu.Unlock()
	for i := range samples {
		if ids[i] < 0 {
			ids[i] = created[Series{samples[i].Device, samples[i].Interface, samples[i].Metric}]
		}
	}
	return ids, nil
}

func (r telemetryRepo) Range(ctx context.Context, q RangeQuery) ([]Point, error) {
	if err := checkSeries("query", q.Device, q.Interface, q.Metric); err != nil {
		return nil, err
	}
	if q.From.IsZero() || q.To.IsZero() {
		return nil, invalidf("query.from", "from and to must both be set")
	}
	if !q.From.Before(q.To) {
		return nil, invalidf("query.to", "%v is not after from %v", q.To, q.From)
	}
	if q.Step < 0 {
		return nil, invalidf("query.step", "must not be negative, got %v", q.Step)
	}
	from, to := q.From.UnixNano(), q.To.UnixNano()
	if q.Step > 0 && (to-from)/int64(q.Step) >= maxBuckets {
		return nil, invalidf("query.step", "%v gives more than %d buckets over %v", q.Step, maxBuckets, q.To.Sub(q.From))
	}
	var id int64
	err := r.s.d.queryRow(ctx, `SELECT id FROM telemetry_series WHERE device = $1 AND iface = $2 AND metric = $3`,
		q.Device, q.Interface, q.Metric).Scan(&id)
	if err != nil {
		if r.s.d.isNoRows(err) {
			return nil, fmt.Errorf("repository: series %s/%s/%s: %w", q.Device, q.Interface, q.Metric, ErrNotFound)
		}
		return nil, fmt.Errorf("repository: range: %w", err)
	}
	out := []Point{}
	if q.Step == 0 {
		rows, err := r.s.d.query(ctx, `SELECT ts, value FROM telemetry_samples
			WHERE series_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts`, int32(id), from, to)
		if err != nil {
			return nil, fmt.Errorf("repository: range: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ts int64
			var v float64
			if err := rows.Scan(&ts, &v); err != nil {
				return nil, fmt.Errorf("repository: range: %w", err)
			}
			out = append(out, Point{Time: time.Unix(0, ts).UTC(), Avg: v, Min: v, Max: v, Count: 1})
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("repository: range: %w", err)
		}
		return out, nil
	}
	step := int64(q.Step)
	rows, err := r.s.d.query(ctx, `SELECT (ts - $2) / $4 AS b, AVG(value), MIN(value), MAX(value), COUNT(*)
		FROM telemetry_samples WHERE series_id = $1 AND ts >= $2 AND ts < $3 GROUP BY b ORDER BY b`,
		int32(id), from, to, step)
	if err != nil {
		return nil, fmt.Errorf("repository: range: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b int64
		var p Point
		if err := rows.Scan(&b, &p.Avg, &p.Min, &p.Max, &p.Count); err != nil {
			return nil, fmt.Errorf("repository: range: %w", err)
		}
		p.Time = time.Unix(0, from+b*step).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("repository: range: %w", err)
	}
	return out, nil
}

func (r telemetryRepo) Prune(ctx context.Context, olderThan time.Time) (int64, error) {
	if olderThan.IsZero() {
		return 0, invalidf("older_than", "must be set")
	}
	n, err := r.s.d.exec(ctx, `DELETE FROM telemetry_samples WHERE ts < $1`, olderThan.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("repository: prune telemetry: %w", err)
	}
	return n, nil
}

func (r telemetryRepo) Series(ctx context.Context) ([]Series, error) {
	rows, err := r.s.d.query(ctx, `SELECT device, iface, metric FROM telemetry_series ORDER BY device, iface, metric`)
	if err != nil {
		return nil, fmt.Errorf("repository: list series: %w", err)
	}
	defer rows.Close()
	out := []Series{}
	for rows.Next() {
		var s Series
		if err := rows.Scan(&s.Device, &s.Interface, &s.Metric); err != nil {
			return nil, fmt.Errorf("repository: list series: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
