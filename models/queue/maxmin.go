package queue

import (
	"cmp"
	"slices"
)

// waterFill is a max-min fair allocation with demand caps by progressive filling: all
// unfrozen flows rise together; the next event is either the smallest demand left
// (that flow freezes at its demand) or the lowest saturation level of a link
// ((capacity − frozen rates) / unfrozen flows; its unfrozen flows freeze there).
// Levels only rise (a flow frozen at or below a link's level leaves that link's level
// at or above where it was); an indexed heap of the links keyed by level finds each
// event. Every buffer is allocated once (init) and reused by solve.
type waterFill struct {
	caps      []float64
	off, idx  []int32 // flow k's links: idx[off[k]:off[k+1]]
	loff, lfl []int32 // link l's flows: lfl[loff[l]:loff[l+1]]
	demand    []float64
	rate      []float64

	rem    []float64 // capacity left by the frozen flows
	level  []float64 // rem / n
	n      []int32   // unfrozen flows
	frozen []bool
	order  []int32 // flows by demand
	heap   []int32 // links with unfrozen flows, a min-heap by level (then index)
	pos    []int32 // link → its place in heap, −1 when out
}

func (w *waterFill) init(caps []float64, off, idx []int32) {
	nl, nf := len(caps), len(off)-1
	w.caps, w.off, w.idx = caps, off, idx
	w.loff = make([]int32, nl+1)
	for _, l := range idx {
		w.loff[l+1]++
	}
	for l := range nl {
		w.loff[l+1] += w.loff[l]
	}
	w.lfl = make([]int32, len(idx))
	fill := slices.Clone(w.loff[:nl])
	for k := range nf {
		for _, l := range idx[off[k]:off[k+1]] {
			w.lfl[fill[l]] = int32(k)
			fill[l]++
		}
	}
	w.demand, w.rate, w.frozen, w.order = make([]float64, nf), make([]float64, nf), make([]bool, nf), make([]int32, nf)
	w.rem, w.level, w.n, w.pos = make([]float64, nl), make([]float64, nl), make([]int32, nl), make([]int32, nl)
	w.heap = make([]int32, 0, nl)
}

// solve sets rate from demand (+Inf: none).
func (w *waterFill) solve() {
	w.heap = w.heap[:0]
	for l := range w.caps {
		w.rem[l] = w.caps[l]
		w.n[l] = w.loff[l+1] - w.loff[l]
		w.pos[l] = -1
		if w.n[l] > 0 {
			w.level[l] = w.rem[l] / float64(w.n[l])
			w.pos[l] = int32(len(w.heap))
			w.heap = append(w.heap, int32(l))
		}
	}
	for i := len(w.heap)/2 - 1; i >= 0; i-- {
		w.down(i)
	}
	for k := range w.order {
		w.order[k] = int32(k)
		w.frozen[k] = false
	}
	slices.SortFunc(w.order, func(a, b int32) int {
		if c := cmp.Compare(w.demand[a], w.demand[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	j := 0
	for {
		for j < len(w.order) && w.frozen[w.order[j]] {
			j++
		}
		if j < len(w.order) && (len(w.heap) == 0 || w.demand[w.order[j]] <= w.level[w.heap[0]]) {
			k := w.order[j]
			w.freeze(k, w.demand[k])
			continue
		}
		if len(w.heap) == 0 {
			break // no flow left (every flow crosses a link)
		}
		l := w.heap[0]
		x := w.level[l]
		for _, k := range w.lfl[w.loff[l]:w.loff[l+1]] {
			if !w.frozen[k] {
				w.freeze(k, x)
			}
		}
	}
}

// freeze fixes flow k at rate x and updates the levels of its links (they only rise:
// x is at most each link's level).
func (w *waterFill) freeze(k int32, x float64) {
	w.frozen[k], w.rate[k] = true, x
	for _, l := range w.idx[w.off[k]:w.off[k+1]] {
		w.rem[l] -= x
		w.n[l]--
		i := int(w.pos[l])
		if w.n[l] == 0 { // leaves the heap
			last := len(w.heap) - 1
			w.swap(i, last)
			w.heap = w.heap[:last]
			w.pos[l] = -1
			if i < last {
				w.down(i)
				w.up(i)
			}
			continue
		}
		w.level[l] = max(0, w.rem[l]) / float64(w.n[l])
		w.down(i)
		w.up(i) // a rounding-level fall
	}
}

func (w *waterFill) less(i, j int) bool {
	a, b := w.heap[i], w.heap[j]
	if la, lb := w.level[a], w.level[b]; la != lb {
		return la < lb
	}
	return a < b
}

func (w *waterFill) swap(i, j int) {
	h := w.heap
	h[i], h[j] = h[j], h[i]
	w.pos[h[i]], w.pos[h[j]] = int32(i), int32(j)
}

func (w *waterFill) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !w.less(i, p) {
			return
		}
		w.swap(i, p)
		i = p
	}
}

func (w *waterFill) down(i int) {
	n := len(w.heap)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && w.less(c+1, c) {
			c++
		}
		if !w.less(c, i) {
			return
		}
		w.swap(i, c)
		i = c
	}
}
