package bottleneck

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// BenchmarkResolvePaths measures New's link-ID resolution (idTable) on 49,152 link
// IDs and 2M path elements drawn at random: IDs of at most 16 bytes (gen_fattree.py's
// style) or longer, and path elements that are the links' own strings (shared, as a
// router returns them) or copies (as decoding makes them).
func BenchmarkResolvePaths(b *testing.B) {
	const nLinks, nElems = 49_152, 2_000_000
	for _, long := range []bool{false, true} {
		ids := make([]string, nLinks)
		for i := range ids {
			if long {
				ids[i] = fmt.Sprintf("pod%d-switch%d-port%d:reverse", i%32, i/32%32, i/1024)
			} else {
				ids[i] = fmt.Sprintf("h%d.%d.%d>e%d", i%32, i/32%32, i/1024, i%16)
			}
		}
		for _, copies := range []bool{false, true} {
			rng := rand.New(rand.NewPCG(1, 2))
			flows := make([]Flow, nElems/5)
			for i := range flows {
				p := make([]string, 5)
				for k := range p {
					p[k] = ids[rng.IntN(nLinks)]
					if copies {
						p[k] = strings.Clone(p[k])
					}
				}
				flows[i].Path = p
			}
			out := make([]int32, nElems)
			b.Run(fmt.Sprintf("long=%v/copies=%v", long, copies), func(b *testing.B) {
				for b.Loop() {
					newIDTable(ids).resolvePaths(flows, out)
				}
			})
		}
	}
}
