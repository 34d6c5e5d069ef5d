package routing

import (
	"math"

	"gonum.org/v1/gonum/graph/path"
	"gonum.org/v1/gonum/graph/simple"
)

// ShortestFrom returns a least-weight path from src to every other device it reaches,
// keyed by destination device ID, from one Dijkstra run (gonum DijkstraFrom on the
// same graph Shortest uses; ties are broken by device order, so the result is
// deterministic). It costs what one Shortest call costs, instead of one per
// destination. O((|V| + |E|) log |V|).
func (g *Graph) ShortestFrom(src string, o Options) (map[string]Path, error) {
	s, err := g.dev(src, &o)
	if err != nil {
		return nil, err
	}
	wg, best := g.gonumGraph(&o, math.Inf(-1))
	sp := path.DijkstraFrom(simple.Node(s), wg)
	out := make(map[string]Path, len(g.devs))
	for i, d := range g.devs {
		if int32(i) == s || o.ExcludeDevices[d] {
			continue
		}
		nodes, _ := sp.To(int64(i))
		if len(nodes) == 0 {
			continue
		}
		out[d] = g.toPath(nodes, best, o.Metric)
	}
	return out, nil
}
