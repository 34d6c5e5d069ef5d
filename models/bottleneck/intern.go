package bottleneck

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"unsafe"
)

// idTable resolves the link IDs of New's paths (Σ|path| lookups, the bulk of New's
// cost besides Compute). It is an open-addressing table probed linearly, with the
// 32-bit hash tag and the index packed in one word per slot, so a lookup is one access
// to a compact array, and a verification of the key. The verification reads no
// string of the table when the key is at most 16 bytes long: the slot keeps the
// key's length and its bytes in two words (see keyWords), compared with the words of
// the string looked up, whose bytes hashing has just read; a longer key is compared
// in full, and after a match the slot keeps the caller's string, so that the next
// lookup of a shared string compares pointers. (Decoded input has one string per
// path element, so comparing with the table's own string was a cache miss per
// lookup.) The seed is random per table, so
// the probe sequences (not the results) vary between runs.
type idTable struct {
	seed  maphash.Seed
	mask  uint64
	slots []uint64 // tag<<32 | (index+1); 0 is empty
	kw    []keyW   // the key's words, or its string if longer than 16 bytes
}

// keyW is a key as its length and two words of its bytes (keyWords), and the key
// itself when it is longer than 16 bytes.
type keyW struct {
	n      int
	w0, w1 uint64
	long   string
}

// keyWords returns two words that, with the length, determine a string of at most 16
// bytes: its first and last 8 bytes when it has 8 or more (they overlap below 16),
// else its first and last 4 (or its bytes one by one below 4). Longer strings return
// their first and last 8 bytes, which the caller completes with a full comparison.
func keyWords(s string) (uint64, uint64) {
	n := len(s)
	switch {
	case n >= 8:
		return loadU64(s), loadU64(s[n-8:])
	case n >= 4:
		return uint64(loadU32(s)), uint64(loadU32(s[n-4:]))
	default:
		var w uint64
		for i := range n {
			w |= uint64(s[i]) << (8 * i)
		}
		return w, 0
	}
}

func loadU64(s string) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8))
}

func loadU32(s string) uint32 {
	return binary.LittleEndian.Uint32(unsafe.Slice(unsafe.StringData(s), 4))
}

func newKeyW(id string) keyW {
	w0, w1 := keyWords(id)
	k := keyW{n: len(id), w0: w0, w1: w1}
	if len(id) > 16 {
		k.long = id
	}
	return k
}

// matches says whether slot key k is s, given s's words.
func (k *keyW) matches(s string, w0, w1 uint64) bool {
	return k.n == len(s) && k.w0 == w0 && k.w1 == w1 && (k.n <= 16 || k.long == s)
}

func newIDTable(ids []string) *idTable {
	size := uint64(1) << bits.Len64(uint64(2*len(ids)|7))
	t := &idTable{seed: maphash.MakeSeed(), mask: size - 1, slots: make([]uint64, size), kw: make([]keyW, size)}
	for i, id := range ids {
		h := maphash.String(t.seed, id)
		j := h & t.mask
		for t.slots[j] != 0 {
			j = (j + 1) & t.mask
		}
		t.slots[j] = h>>32<<32 | uint64(i+1)
		t.kw[j] = newKeyW(id)
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
	o := int32(0)
	for i := range flows {
		for _, id := range flows[i].Path {
			b.ids[b.n], b.at[b.n] = id, o
			b.n++
			o++
			if b.n == len(b.ids) {
				t.resolveBatch(&b, out)
			}
		}
		if flows[i].Demand != nil {
			o++
		}
	}
	t.resolveBatch(&b, out)
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
		w0, w1 := keyWords(id)
		j := h & t.mask
		r := int32(-1)
		for s != 0 {
			if s>>32 == h>>32 && t.kw[j].matches(id, w0, w1) {
				if len(id) > 16 {
					// keep the caller's string: path elements are often shared
					// (a router's link IDs), and the next lookup of the same one
					// compares pointers instead of bytes
					t.kw[j].long = id
				}
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
