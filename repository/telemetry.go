package repository

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
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
	rows := buildChunks(samples, ids)
	if err := r.s.d.copyChunks(ctx, rows); err != nil {
		return fmt.Errorf("repository: append %d samples: %w", len(samples), err)
	}
	return nil
}

// buildChunks groups samples by series (keeping arrival order), sorts each group by
// time if needed and encodes it into chunks of at most maxChunk samples.
func buildChunks(samples []Sample, ids []int32) []chunkRow {
	groupOf := map[int32]int{}
	var groups [][]int32
	last, lastG := int32(-1), -1
	for i, id := range ids {
		g := lastG
		if id != last {
			var ok bool
			if g, ok = groupOf[id]; !ok {
				g = len(groups)
				groupOf[id] = g
				groups = append(groups, nil)
			}
			last, lastG = id, g
		}
		groups[g] = append(groups[g], int32(i))
	}
	rows := make([]chunkRow, 0, len(groups)+len(samples)/maxChunk)
	arena := make([]byte, 0, 14*len(samples)+8*len(groups))
	ts := make([]int64, 0, maxChunk)
	vals := make([]float64, 0, maxChunk)
	for g, idx := range groups {
		if !slices.IsSortedFunc(idx, func(a, b int32) int { return samples[a].Time.Compare(samples[b].Time) }) {
			slices.SortStableFunc(idx, func(a, b int32) int { return samples[a].Time.Compare(samples[b].Time) })
		}
		for start := 0; start < len(idx); start += maxChunk {
			part := idx[start:min(start+maxChunk, len(idx))]
			ts, vals = ts[:0], vals[:0]
			for _, i := range part {
				ts = append(ts, samples[i].Time.UnixNano())
				vals = append(vals, samples[i].Value)
			}
			off := len(arena)
			arena = appendChunk(arena, ts, vals)
			rows = append(rows, chunkRow{series: ids[groups[g][0]], tMin: ts[0], tMax: ts[len(ts)-1], n: int32(len(ts)),
				data: arena[off:len(arena):len(arena)]})
		}
	}
	return rows
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
	rows, err := r.s.d.query(ctx, `SELECT n, data FROM telemetry_chunks
		WHERE series_id = $1 AND t_max >= $2 AND t_min < $3 ORDER BY t_min`, int32(id), from, to)
	if err != nil {
		return nil, fmt.Errorf("repository: range: %w", err)
	}
	defer rows.Close()
	var ts []int64
	var vals []float64
	var buf []byte
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n, &buf); err != nil {
			return nil, fmt.Errorf("repository: range: %w", err)
		}
		if n > 0 && n <= maxChunk && cap(ts)-len(ts) < int(n) {
			// Grow geometrically, at least by this chunk.
			ts = slices.Grow(ts, max(int(n), len(ts)))
			vals = slices.Grow(vals, max(int(n), len(vals)))
		}
		if ts, vals, err = decodeChunk(buf, ts, vals); err != nil {
			return nil, fmt.Errorf("repository: range %s/%s/%s: %w", q.Device, q.Interface, q.Metric, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("repository: range: %w", err)
	}
	return points(ts, vals, from, to, int64(q.Step)), nil
}

// points filters samples to [from, to), orders them by time and, for step > 0,
// aggregates them into buckets [from+k*step, from+(k+1)*step).
func points(ts []int64, vals []float64, from, to, step int64) []Point {
	// Keep the samples in range (chunks overlap the range only partly).
	k := 0
	for i := range ts {
		if ts[i] >= from && ts[i] < to {
			ts[k], vals[k] = ts[i], vals[i]
			k++
		}
	}
	ts, vals = ts[:k], vals[:k]
	if !slices.IsSorted(ts) {
		// Chunks from separate appends may interleave in time.
		perm := make([]int, len(ts))
		for i := range perm {
			perm[i] = i
		}
		slices.SortStableFunc(perm, func(a, b int) int { return cmp.Compare(ts[a], ts[b]) })
		ts2, vals2 := make([]int64, len(ts)), make([]float64, len(ts))
		for i, p := range perm {
			ts2[i], vals2[i] = ts[p], vals[p]
		}
		ts, vals = ts2, vals2
	}
	out := []Point{}
	if step == 0 {
		out = slices.Grow(out, len(ts))
		for i := range ts {
			v := vals[i]
			out = append(out, Point{Time: time.Unix(0, ts[i]).UTC(), Avg: v, Min: v, Max: v, Count: 1})
		}
		return out
	}
	var cur Point
	var sum float64
	bucket := int64(-1)
	flush := func() {
		if cur.Count > 0 {
			cur.Avg = sum / float64(cur.Count)
			out = append(out, cur)
		}
	}
	for i := range ts {
		b := (ts[i] - from) / step
		if b != bucket {
			flush()
			bucket = b
			cur = Point{Time: time.Unix(0, from+b*step).UTC(), Min: vals[i], Max: vals[i]}
			sum = 0
		}
		cur.Count++
		sum += vals[i]
		cur.Min = math.Min(cur.Min, vals[i])
		cur.Max = math.Max(cur.Max, vals[i])
	}
	flush()
	return out
}

func (r telemetryRepo) Prune(ctx context.Context, olderThan time.Time) (int64, error) {
	if olderThan.IsZero() {
		return 0, invalidf("older_than", "must be set")
	}
	cut := olderThan.UnixNano()
	var deleted int64
	err := r.s.withTx(ctx, func(t txn) error {
		// Whole chunks older than the cut.
		rows, err := t.query(ctx, `DELETE FROM telemetry_chunks WHERE t_max < $1 RETURNING n`, cut)
		if err != nil {
			return fmt.Errorf("repository: prune telemetry: %w", err)
		}
		for rows.Next() {
			var n int64
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return fmt.Errorf("repository: prune telemetry: %w", err)
			}
			deleted += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("repository: prune telemetry: %w", err)
		}
		// Chunks straddling the cut are rewritten without their old samples.
		type straddler struct {
			id   int64
			data []byte
		}
		var todo []straddler
		rows, err = t.query(ctx, `SELECT id, data FROM telemetry_chunks WHERE t_min < $1 AND t_max >= $1`, cut)
		if err != nil {
			return fmt.Errorf("repository: prune telemetry: %w", err)
		}
		for rows.Next() {
			var s straddler
			if err := rows.Scan(&s.id, &s.data); err != nil {
				rows.Close()
				return fmt.Errorf("repository: prune telemetry: %w", err)
			}
			todo = append(todo, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("repository: prune telemetry: %w", err)
		}
		for _, s := range todo {
			ts, vals, err := decodeChunk(s.data, nil, nil)
			if err != nil {
				return fmt.Errorf("repository: prune telemetry chunk %d: %w", s.id, err)
			}
			k := sortedCut(ts, cut)
			deleted += int64(k)
			ts, vals = ts[k:], vals[k:]
			if _, err := t.exec(ctx, `UPDATE telemetry_chunks SET t_min = $1, n = $2, data = $3 WHERE id = $4`,
				ts[0], int32(len(ts)), appendChunk(nil, ts, vals), s.id); err != nil {
				return fmt.Errorf("repository: prune telemetry chunk %d: %w", s.id, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return deleted, nil
}

// sortedCut returns how many of the sorted ts are < cut.
func sortedCut(ts []int64, cut int64) int {
	k, _ := slices.BinarySearch(ts, cut)
	return k
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

// compactBelow: chunks with fewer samples than this are merged by Compact;
// compactLimit bounds the rows one Compact call reads.
const (
	compactBelow = maxChunk / 4
	compactLimit = 200_000
)

func (r telemetryRepo) Compact(ctx context.Context) (int64, error) {
	var removed int64
	err := r.s.withTx(ctx, func(t txn) error {
		type small struct {
			id     int64
			series int32
			data   []byte
		}
		var all []small
		rows, err := t.query(ctx, `SELECT id, series_id, data FROM telemetry_chunks WHERE n < $1
			ORDER BY series_id, t_min LIMIT $2`, int32(compactBelow), int64(compactLimit))
		if err != nil {
			return fmt.Errorf("repository: compact telemetry: %w", err)
		}
		for rows.Next() {
			var c small
			if err := rows.Scan(&c.id, &c.series, &c.data); err != nil {
				rows.Close()
				return fmt.Errorf("repository: compact telemetry: %w", err)
			}
			all = append(all, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("repository: compact telemetry: %w", err)
		}
		for start := 0; start < len(all); {
			end := start + 1
			for end < len(all) && all[end].series == all[start].series {
				end++
			}
			group := all[start:end]
			start = end
			if len(group) < 2 {
				continue
			}
			var ts []int64
			var vals []float64
			for _, c := range group {
				if ts, vals, err = decodeChunk(c.data, ts, vals); err != nil {
					return fmt.Errorf("repository: compact telemetry chunk %d: %w", c.id, err)
				}
				if _, err := t.exec(ctx, `DELETE FROM telemetry_chunks WHERE id = $1`, c.id); err != nil {
					return fmt.Errorf("repository: compact telemetry: %w", err)
				}
			}
			pts := points(ts, vals, math.MinInt64, math.MaxInt64, 0)
			var inserted int64
			for off := 0; off < len(pts); off += maxChunk {
				part := pts[off:min(off+maxChunk, len(pts))]
				cts, cvals := make([]int64, len(part)), make([]float64, len(part))
				for i, p := range part {
					cts[i], cvals[i] = p.Time.UnixNano(), p.Avg
				}
				if _, err := t.exec(ctx, `INSERT INTO telemetry_chunks (series_id, t_min, t_max, n, data) VALUES ($1,$2,$3,$4,$5)`,
					group[0].series, cts[0], cts[len(cts)-1], int32(len(cts)), appendChunk(nil, cts, cvals)); err != nil {
					return fmt.Errorf("repository: compact telemetry: %w", err)
				}
				inserted++
			}
			removed += int64(len(group)) - inserted
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}
