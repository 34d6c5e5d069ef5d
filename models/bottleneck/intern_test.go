package bottleneck

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIDTableResolves checks idTable against a map on IDs of every length from 1 to
// 40 bytes that share prefixes and suffixes, looked up through copies (other
// pointers), through the table's own strings, and as unknown IDs that differ from a
// known one in a single byte, its length or a trailing zero byte.
func TestIDTableResolves(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	var ids []string
	idx := map[string]int32{}
	add := func(id string) {
		if _, dup := idx[id]; !dup && id != "" {
			idx[id] = int32(len(ids))
			ids = append(ids, id)
		}
	}
	for n := 1; n <= 40; n++ {
		base := strings.Repeat("ab", n)[:n]
		add(base)
		for range 5 {
			b := []byte(base)
			b[rng.IntN(n)] = byte('a' + rng.IntN(26))
			add(string(b))
		}
	}
	for i := range 2000 {
		add(fmt.Sprintf("h%d.%d>e%d", i%32, i/32, i%7))
	}
	var probes []string
	for _, id := range ids {
		probes = append(probes, id, strings.Clone(id), id+"\x00", id+"x", id[:len(id)-1])
		b := []byte(id)
		b[rng.IntN(len(b))] ^= 1
		probes = append(probes, string(b))
		b = []byte(id)
		b[len(b)-1] ^= 0x80
		probes = append(probes, string(b))
	}
	tab := newIDTable(ids)
	flows := []Flow{{Path: probes}}
	out := make([]int32, len(probes))
	tab.resolvePaths(flows, out)
	known := 0
	for i, p := range probes {
		want, ok := idx[p]
		if !ok {
			want = -1
		} else {
			known++
		}
		if out[i] != want {
			t.Fatalf("probe %q resolved to %d, want %d", p, out[i], want)
		}
	}
	if known == len(probes) || known < 2*len(ids) {
		t.Fatalf("%d of %d probes known: the unknown probes are not exercised", known, len(probes))
	}
}
