package dataset

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// The RouteNet / BNN-UPC layout read by datanetAPI (master): a directory holding
// graphs/ (GML, one per topology), routings/ (one directory per routing, with
// Routing_src_<i>.txt giving, for source i, the output port of every node towards
// every destination) and results_<name>_<first>_<last>.tar.gz tarballs. Each tarball
// starts with a directory entry and holds stability.txt and input_files.txt (one line
// per iteration), and per iteration traffic-<it>.txt, simulationResults-<it>.txt and
// linkUsage-<it>.txt with one line per sample. TwinFlow writes one tarball per
// scenario, whose only iteration is the scenario index.

// absentField is written where the layout wants a number TwinFlow does not model yet
// (delay, jitter, loss): Python's float() reads it as NaN, never as zero.
const absentField = "nan"

func graphName(j int) string   { return fmt.Sprintf("s%06d.gml", j) }
func routingName(j int) string { return fmt.Sprintf("s%06d", j) }
func tarballBase(name string, j int) string {
	return fmt.Sprintf("results_%s_%d_%d", name, j, j)
}

// ports gives, per node, the output port of each directed link leaving it (ports are
// numbered 0.. in directed-link order) and the link per (node, next node).
func (sc *scenario) ports() (port []int, next map[[2]int32]int32, err error) {
	port = make([]int, len(sc.links))
	cnt := make([]int, sc.n())
	next = make(map[[2]int32]int32, len(sc.links))
	for l := range sc.links {
		a, b := sc.from[l], sc.to[l]
		if _, dup := next[[2]int32{a, b}]; dup {
			return nil, nil, fmt.Errorf("dataset: routenet layout holds one link per ordered node pair; %s -> %s has several (link %q)", sc.nodes[a], sc.nodes[b], sc.links[l].ID)
		}
		next[[2]int32{a, b}] = int32(l)
		port[l] = cnt[a]
		cnt[a]++
	}
	return port, next, nil
}

// writeGML writes the scenario's topology as the directed multigraph networkx reads
// with read_gml(destringizer=int): node labels are the node numbers, each edge has
// key 0, the source port and the bandwidth in bit/s.
func (sc *scenario) writeGML(w io.Writer, port []int) error {
	var b strings.Builder
	b.WriteString("graph [\n  directed 1\n  multigraph 1\n")
	for i, id := range sc.nodes {
		fmt.Fprintf(&b, "  node [\n    id %d\n    label \"%d\"\n    name %q\n  ]\n", i, i, gmlString(id))
	}
	for l, lk := range sc.links {
		fmt.Fprintf(&b, "  edge [\n    source %d\n    target %d\n    key 0\n    port %d\n    bandwidth %d\n    weight 1\n    link %q\n  ]\n",
			sc.from[l], sc.to[l], port[l], int64(math.Round(lk.Capacity*1e9)), gmlString(lk.ID))
	}
	b.WriteString("]\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// gmlString keeps a GML string to printable ASCII without quotes, ampersands or
// backslashes.
func gmlString(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '&' || r == '\\' {
			return '_'
		}
		return r
	}, s)
}

// routingFiles returns the contents of Routing_src_<i>.txt for every node i: line v,
// column d is the port node v uses towards d on i's path to d, or -1.
func (sc *scenario) routingFiles(port []int) [][]byte {
	n := sc.n()
	out := make([][]byte, n)
	row := make([]int32, n*n)
	for s := range n {
		for k := range row {
			row[k] = -1
		}
		for d := range n {
			for _, l := range sc.paths[s*n+d] {
				row[int(sc.from[l])*n+d] = int32(port[l])
			}
		}
		var b []byte
		for v := range n {
			for d := range n {
				b = strconv.AppendInt(b, int64(row[v*n+d]), 10)
				b = append(b, ',')
			}
			b = append(b, '\n')
		}
		out[s] = b
	}
	return out
}

func appendF(b []byte, v float64) []byte { return strconv.AppendFloat(b, v, 'g', -1, 64) }

// routenetLines appends sample sm's lines to the traffic, results and link-usage files.
func (sc *scenario) routenetLines(sm *sample, next map[[2]int32]int32, traffic, results, usage *[]byte) {
	n := sc.n()
	offered := make([]float64, n*n) // Gb/s
	carried := make([]float64, n*n)
	for f := range sm.src {
		k := int(sm.src[f])*n + int(sm.dst[f])
		offered[k] += sm.demand[f]
		carried[k] += sm.rate[f]
	}
	// traffic: "<sample>;<maxAvgLambda>|" then per pair an exponential-time,
	// deterministic-size flow "0,EqLambda,AvgPktsLambda,ExpMaxFactor,0,AvgPktSize,ToS",
	// or -1 for a pair that is not routed.
	t := *traffic
	t = strconv.AppendInt(t, int64(sm.index), 10)
	t = append(t, ';')
	t = appendF(t, sm.intensity*1e9)
	t = append(t, '|')
	r := *results
	var pkts float64
	for k := range n * n {
		if k > 0 {
			t = append(t, ';')
		}
		if sc.paths[k] == nil {
			t = append(t, "-1"...)
		} else {
			bps := offered[k] * 1e9
			t = append(t, "0,"...)
			t = appendF(t, bps)
			t = append(t, ',')
			t = appendF(t, bps/PacketBits)
			t = append(t, ",10,0,"...)
			t = strconv.AppendInt(t, PacketBits, 10)
			t = append(t, ",0"...)
		}
		pkts += carried[k] * 1e9 / PacketBits
	}
	t = append(t, '\n')
	*traffic = t
	// results: "global_packets,global_losses,global_delay|" then per pair
	// "AvgBw(kbps),PktsGen,PktsDrop,AvgDelay,AvgLnDelay,p10,p20,p50,p80,p90,Jitter;"
	r = appendF(r, pkts)
	r = append(r, ","+absentField+","+absentField+"|"...)
	for k := range n * n {
		r = appendF(r, carried[k]*1e6)
		r = append(r, ',')
		r = appendF(r, carried[k]*1e9/PacketBits)
		for range 9 {
			r = append(r, ","+absentField...)
		}
		r = append(r, ';')
	}
	r = append(r, '\n')
	*results = r
	// link usage: per ordered node pair "-1" or "utilization,losses"
	u := *usage
	for a := range n {
		for b := range n {
			if a+b > 0 {
				u = append(u, ';')
			}
			l, ok := next[[2]int32{int32(a), int32(b)}]
			if !ok {
				u = append(u, "-1"...)
				continue
			}
			u = appendF(u, sm.load[l]/sc.links[l].Capacity)
			u = append(u, ","+absentField...)
		}
	}
	u = append(u, '\n')
	*usage = u
}

// epoch is the modification time of every tar entry, so tarballs are reproducible.
var epoch = time.Unix(0, 0).UTC()

// writeTarball writes the scenario's results tarball.
func (sc *scenario) writeTarball(w io.Writer, name string, samples []*sample, next map[[2]int32]int32) error {
	j := sc.index
	var traffic, results, usage []byte
	for _, sm := range samples {
		sc.routenetLines(sm, next, &traffic, &results, &usage)
	}
	dir := tarballBase(name, j)
	it := strconv.Itoa(j)
	files := []struct {
		name string
		data []byte
	}{
		{"stability.txt", []byte("1;OK;" + strconv.Itoa(len(samples)) + "\n")},
		{"input_files.txt", []byte(it + ";" + graphName(j) + ";" + routingName(j) + "\n")},
		{"traffic-" + it + ".txt", traffic},
		{"simulationResults-" + it + ".txt", results},
		{"linkUsage-" + it + ".txt", usage},
	}
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatUSTAR}); err != nil {
		return err
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/" + f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, bytes.NewReader(f.data)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}
