package bottleneck

import (
	"hash/maphash"
	"math/bits"
	"sync/atomic"
)

// idTable resolves the link IDs of New's paths (Σ|path| lookups, the bulk of New's
// cost besides Compute). It is an open-addressing table probed linearly, with the
// 32-bit hash tag and the index packed in one word per slot, so a lookup is one access
// to a compact array, and a verification of the key. The table is read-only once
// built, so several goroutines resolve disjoint ranges of flows at once
// (resolveChunks). The seed is random per table, so the probe sequences (not the
// results) vary between runs.
type idTable struct {
	seed  maphash.Seed
	mask  uint64
	slots []uint64 // tag<<32 | (index+1); 0 is empty
	keys  []string
}

func newIDTable(ids []string) *idTable {
	size := uint64(1) << bits.Len64(uint64(2*len(ids)|7))
	t := &idTable{seed: maphash.MakeSeed(), mask: size - 1, slots: make([]uint64, size), keys: make([]string, size)}
	for i, id := range ids {
		h := maphash.String(t.seed, id)
		j := h & t.mask
		for t.slots[j] != 0 {
			j = (j + 1) & t.mask
		}
		t.slots[j] = h>>32<<32 | uint64(i+1)
		t.keys[j] = id
	}
	return t
}

// resolvePaths writes the index of every link ID of every flow's path into out, in
// order, leaving one slot after the path of each flow with a demand (for its virtual
// link); an unknown ID resolves to -1. The lookups are batched: hashes, then first
// slots, then keys, each a loop of independent memory accesses, which the CPU
// overlaps (a lookup on its own is a chain of cache misses). O(Σ|path|) expected.
func (t *idTable) resolvePaths(flows []Flow, out []int32) {
	var b idBatch
	t.resolveRange(flows, 0, out, &b)
}

// resolveRange is resolvePaths for flows whose first slot in out is o.
func (t *idTable) resolveRange(flows []Flow, o int32, out []int32, b *idBatch) {
	for i := range flows {
		for _, id := range flows[i].Path {
			b.ids[b.n], b.at[b.n] = id, o
			b.n++
			o++
			if b.n == len(b.ids) {
				t.resolveBatch(b, out)
			}
		}
		if flows[i].Demand != nil {
			o++
		}
	}
	t.resolveBatch(b, out)
}

// resolveChunk is the number of flows a resolveChunks worker claims at a time.
const resolveChunk = 4096

// resolveChunks resolves the flows of the chunks of resolveChunk flows it claims from
// next (an atomic counter shared by the workers) until none is left; starts[c] is the
// first slot in out of chunk c. Workers write disjoint slots of out.
func (t *idTable) resolveChunks(flows []Flow, starts []int32, out []int32, next *atomic.Int32) {
	b := new(idBatch)
	for {
		c := int(next.Add(1) - 1)
		if c >= len(starts) {
			return
		}
		lo := c * resolveChunk
		t.resolveRange(flows[lo:min(lo+resolveChunk, len(flows))], starts[c], out, b)
	}
}

const idBatchLen = 256

type idBatch struct {
	n   int
	ids [idBatchLen]string
	at  [idBatchLen]int32
	h   [idBatchLen]uint64
	sl  [idBatchLen]uint64
}

func (t *idTable) resolveBatch(b *idBatch, out []int32) {
	n := b.n
	for i := range n {
		b.h[i] = maphash.String(t.seed, b.ids[i])
	}
	for i := range n {
		b.sl[i] = t.slots[b.h[i]&t.mask]
	}
	for i := range n {
		h, s, id := b.h[i], b.sl[i], b.ids[i]
		j := h & t.mask
		r := int32(-1)
		for s != 0 {
			if s>>32 == h>>32 && t.keys[j] == id {
				r = int32(uint32(s)) - 1
				break
			}
			j = (j + 1) & t.mask
			s = t.slots[j]
		}
		out[b.at[i]] = r
	}
	clear(b.ids[:n]) // drop the references
	b.n = 0
}
