package bottleneck

import "math"

// naiveWaterFill is the textbook round-based water-filling kept as a reference for
// tests and benchmarks: every round scans every link and every flow, with no
// compaction. O(R·(|L| + Σ|path|)) for R levels, plus per-round allocations.
func naiveWaterFill(s *State) (rate []float64, levelL, levelF []int32) {
	nT, nF := len(s.capa), len(s.path)
	rate = make([]float64, nF)
	levelL = make([]int32, nT)
	levelF = make([]int32, nF)
	resid := append([]float64(nil), s.capa...)
	cnt := make([]int, nT)
	left := 0
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		left++
		for _, l := range p {
			cnt[l]++
		}
	}
	for round := int32(1); left > 0; round++ {
		share := make([]float64, nT)
		for l := range nT {
			share[l] = math.Inf(1)
			if cnt[l] > 0 {
				share[l] = math.Max(resid[l], 0) / float64(cnt[l])
			}
		}
		isMin := make([]bool, nT)
		for l := range nT {
			isMin[l] = cnt[l] > 0
		}
		for f, p := range s.path {
			if !s.alive[f] || levelF[f] != 0 {
				continue
			}
			m := math.Inf(1)
			for _, l := range p {
				m = math.Min(m, share[l])
			}
			for _, l := range p {
				if share[l] > m*(1+s.tol) {
					isMin[l] = false
				}
			}
		}
		for l := range nT {
			if isMin[l] {
				levelL[l] = round
			}
		}
		for f, p := range s.path {
			if !s.alive[f] || levelF[f] != 0 {
				continue
			}
			r := math.Inf(1)
			for _, l := range p {
				if isMin[l] {
					r = math.Min(r, share[l])
				}
			}
			if math.IsInf(r, 1) {
				continue
			}
			rate[f], levelF[f] = r, round
			left--
			for _, l := range p {
				resid[l] -= r
				cnt[l]--
			}
		}
	}
	return rate, levelL, levelF
}
