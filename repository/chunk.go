package repository

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Telemetry chunk format, version 1. A chunk holds 1..maxChunk samples of one series
// in non-decreasing time order:
//
//	byte     version (1)
//	uvarint  n, the number of samples
//	varint   t[0], nanoseconds since the Unix epoch
//	uvarint  t[i] - t[i-1] for i = 1..n-1
//	n x 8    IEEE-754 float64 values, little-endian
//
// At one sample per second a sample costs about 13 bytes.

const (
	chunkVersion = 1
	maxChunk     = 2048
)

// errChunk is wrapped by every chunk decoding error (a corrupt row).
var errChunk = errors.New("corrupt telemetry chunk")

// appendChunk encodes ts/vals (same length, 1..maxChunk, ts non-decreasing) onto dst.
func appendChunk(dst []byte, ts []int64, vals []float64) []byte {
	dst = append(dst, chunkVersion)
	dst = binary.AppendUvarint(dst, uint64(len(ts)))
	dst = binary.AppendVarint(dst, ts[0])
	for i := 1; i < len(ts); i++ {
		dst = binary.AppendUvarint(dst, uint64(ts[i]-ts[i-1]))
	}
	for _, v := range vals {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
	}
	return dst
}

// decodeChunk appends the chunk's samples to ts and vals. It rejects anything that is
// not exactly a well-formed chunk.
func decodeChunk(b []byte, ts []int64, vals []float64) ([]int64, []float64, error) {
	if len(b) == 0 {
		return ts, vals, fmt.Errorf("%w: empty", errChunk)
	}
	if b[0] != chunkVersion {
		return ts, vals, fmt.Errorf("%w: version %d, want %d", errChunk, b[0], chunkVersion)
	}
	p := 1
	n, k := binary.Uvarint(b[p:])
	if k <= 0 || n == 0 || n > maxChunk {
		return ts, vals, fmt.Errorf("%w: bad sample count", errChunk)
	}
	p += k
	t, k := binary.Varint(b[p:])
	if k <= 0 {
		return ts, vals, fmt.Errorf("%w: bad first timestamp", errChunk)
	}
	p += k
	start := len(ts)
	ts = append(ts, t)
	for i := 1; i < int(n); i++ {
		d, k := binary.Uvarint(b[p:])
		// headroom = MaxInt64 - t, exact in uint64 arithmetic for every int64 t.
		if headroom := uint64(math.MaxInt64) - uint64(t); k <= 0 || d > headroom {
			return ts[:start], vals, fmt.Errorf("%w: bad timestamp delta %d", errChunk, i)
		}
		p += k
		t = int64(uint64(t) + d)
		ts = append(ts, t)
	}
	if len(b)-p != 8*int(n) {
		return ts[:start], vals, fmt.Errorf("%w: %d value bytes for %d samples", errChunk, len(b)-p, n)
	}
	vstart := len(vals)
	for i := 0; i < int(n); i++ {
		v := math.Float64frombits(binary.LittleEndian.Uint64(b[p:]))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ts[:start], vals[:vstart], fmt.Errorf("%w: value %d is not finite", errChunk, i)
		}
		vals = append(vals, v)
		p += 8
	}
	return ts, vals, nil
}
