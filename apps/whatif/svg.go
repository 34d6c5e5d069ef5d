package whatif

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
)

// MaxSVGRows bounds the rows of the N-1 heat-map and the bars of the gradient chart.
const MaxSVGRows = 40

// WriteSVG draws two charts in one plain SVG document: a heat-map of N-1 impact (one
// row per failed link, the MaxSVGRows worst by throughput loss; columns: the total
// throughput and each SLO's aggregate rate, coloured by the fraction lost, white 0 to
// red 100%) and a bar chart of the capacity plan's gradients. Hover titles give the
// numbers. Charts without data (no N-1 sweep, no capacity plan) say so.
func WriteSVG(w io.Writer, rep *Report) error {
	bw := bufio.NewWriter(w)
	var n1 []CaseResult
	for _, c := range rep.Cases {
		if c.Kind == "n1" && c.Error == "" {
			n1 = append(n1, c)
		}
	}
	sort.SliceStable(n1, func(i, j int) bool { return n1[i].DeltaGbps < n1[j].DeltaGbps })
	if len(n1) > MaxSVGRows {
		n1 = n1[:MaxSVGRows]
	}
	cols := []string{"total"}
	if len(n1) > 0 {
		for _, s := range n1[0].SLOs {
			cols = append(cols, s.SLO)
		}
	}
	if len(cols) > 12 {
		cols = cols[:12]
	}
	const (
		left, top, cell, rowH = 180, 60, 70, 16
	)
	heatH := top + rowH*max(len(n1), 1) + 30
	bars := rep.Plan
	if len(bars) > MaxSVGRows {
		bars = bars[:MaxSVGRows]
	}
	barTop := heatH + 50
	width := max(left+cell*len(cols)+40, 640)
	height := barTop + rowH*max(len(bars), 1) + 40
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(bw, `<text x="10" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", esc("N-1 impact: fraction of rate lost per failed link ("+rep.Scenario+")"))
	if len(n1) == 0 {
		fmt.Fprintf(bw, `<text x="10" y="%d">no N-1 sweep in this scenario</text>`+"\n", top)
	}
	for j, c := range cols {
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", left+cell*j+cell/2, top-8, esc(trunc(c, 12)))
	}
	for i, c := range n1 {
		y := top + rowH*i
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+12, esc(trunc(c.Name, 28)))
		for j := range cols {
			old, nw := rep.Base.TotalGbps, c.TotalGbps
			label := "total"
			if j > 0 {
				s := c.SLOs[j-1]
				old, nw, label = s.OldGbps, s.NewGbps, "SLO "+s.SLO
			}
			lost := 0.0
			if old > 0 {
				lost = math.Max(0, math.Min(1, (old-nw)/old))
			}
			fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#ddd"><title>%s, %s: %.6g -> %.6g Gb/s (%.1f%% lost)</title></rect>`+"\n",
				left+cell*j, y, cell, rowH, heat(lost), esc(c.Name), esc(label), old, nw, 100*lost)
		}
	}
	fmt.Fprintf(bw, `<text x="10" y="%d" font-size="14" font-weight="bold">Capacity plan: total throughput gained per Gb/s of capacity (gradient)</text>`+"\n", barTop-20)
	if len(bars) == 0 {
		fmt.Fprintf(bw, `<text x="10" y="%d">no capacity plan in this scenario</text>`+"\n", barTop+12)
	}
	gmax := 0.0
	for _, b := range bars {
		gmax = math.Max(gmax, b.Gradient)
	}
	span := float64(width - left - 100)
	for i, b := range bars {
		y := barTop + rowH*i
		wd := 0.0
		if gmax > 0 {
			wd = math.Max(0, b.Gradient/gmax*span)
		}
		fmt.Fprintf(bw, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+12, esc(trunc(b.Link, 28)))
		fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#3873b3"><title>%s: gradient %.6g; +%.6g Gb/s bought %.6g Gb/s</title></rect>`+"\n",
			left, y+2, wd, rowH-4, esc(b.Link), b.Gradient, b.StepGbps, b.GainGbps)
		fmt.Fprintf(bw, `<text x="%.1f" y="%d">%.3g</text>`+"\n", float64(left)+wd+4, y+12, b.Gradient)
	}
	fmt.Fprintln(bw, `</svg>`)
	return bw.Flush()
}

// heat maps 0..1 to white..red.
func heat(x float64) string {
	g := int(math.Round(255 * (1 - x)))
	return fmt.Sprintf("#ff%02x%02x", g, g)
}

func esc(s string) string { return html.EscapeString(s) }

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
