package bottleneck

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"
)

// WriteTable writes the table of `twinflow analyze bottleneck` (a summary line, one row
// per flow or path vertex, one row per link sorted by level with level 0 last), with
// columns aligned as text/tabwriter aligns them (two spaces of padding, the last column
// not padded). It streams through a buffer in two passes over the rows (widths, then
// text) instead of holding the table in memory.
func (s *State) WriteTable(w io.Writer, kind GraphKind) error {
	v := s.view(kind)
	bw := bufio.NewWriterSize(w, 256<<10)
	t := &tableWriter{w: bw}
	summary := []string{"levels: " + strconv.Itoa(int(s.maxLevel)), "total throughput: " + tableNum(v.total)}
	t.begin(summary)
	t.line(summary)
	t.buf = append(t.buf, '\n')

	// flows
	var head []string
	if kind == GraphFGG {
		head = []string{"FLOW", "RATE", "LEVEL", "BOTTLENECKS", "PATH"}
	} else {
		head = []string{"PATH-VERTEX", "RATE", "LEVEL", "BOTTLENECKS", "FLOWS", "PATH"}
	}
	t.begin(head)
	var cells [][]byte
	for pass := range 2 {
		for i := range v.verts {
			cells = v.flowCells(cells, i)
			if pass == 0 {
				t.measure(cells)
			} else if err := t.row(cells); err != nil {
				return err
			}
		}
		if pass == 0 {
			t.line(head)
		}
	}
	t.buf = append(t.buf, '\n')

	// links, by level (level 0 last), stable
	order := slices.Clone(v.links)
	slices.SortStableFunc(order, func(a, b int32) int {
		la, lb := s.levelL[a], s.levelL[b]
		if la == 0 || lb == 0 {
			switch {
			case la != 0 && lb == 0:
				return -1
			case la == 0 && lb != 0:
				return 1
			}
			return 0
		}
		return int(la) - int(lb)
	})
	lhead := []string{"LINK", "LEVEL", "FAIR-SHARE", "LOAD", "CAPACITY", "FLOWS"}
	t.begin(lhead)
	for pass := range 2 {
		for _, l := range order {
			cells = v.linkCells(cells, l)
			if pass == 0 {
				t.measure(cells)
			} else if err := t.row(cells); err != nil {
				return err
			}
		}
		if pass == 0 {
			t.line(lhead)
		}
	}
	if _, err := bw.Write(t.buf); err != nil {
		return err
	}
	return bw.Flush()
}

// tableNum formats a number for tables (8 significant digits).
func tableNum(x float64) string { return strconv.FormatFloat(x, 'g', 8, 64) }

func appendTableNum(b []byte, x float64) []byte { return strconv.AppendFloat(b, x, 'g', 8, 64) }

// cells returns cs with n cells, each emptied, reusing their memory.
func cells(cs [][]byte, n int) [][]byte {
	for len(cs) < n {
		cs = append(cs, nil)
	}
	cs = cs[:n]
	for i := range cs {
		cs[i] = cs[i][:0]
	}
	return cs
}

func (v *reportView) flowCells(cs [][]byte, i int) [][]byte {
	s := v.s
	f := v.verts[i]
	fgg := v.kind == GraphFGG
	if fgg {
		cs = cells(cs, 5)
		cs[0] = append(cs[0], s.flowID[f]...)
	} else {
		cs = cells(cs, 6)
		cs[0] = append(cs[0], 'p')
		cs[0] = strconv.AppendInt(cs[0], int64(i+1), 10)
	}
	cs[1] = appendTableNum(cs[1], s.rate[f])
	cs[2] = strconv.AppendInt(cs[2], int64(s.levelF[f]), 10)
	for _, l := range s.path[f] {
		if s.levelL[l] == s.levelF[f] {
			if len(cs[3]) > 0 {
				cs[3] = append(cs[3], ',')
			}
			if s.virtOf[l] >= 0 {
				cs[3] = append(cs[3], DemandBottleneck...)
			} else {
				cs[3] = append(cs[3], s.linkID[l]...)
			}
		}
	}
	if len(cs[3]) == 0 {
		cs[3] = append(cs[3], '-')
	}
	last := 4
	if !fgg {
		cs[4] = strconv.AppendInt(cs[4], int64(v.mStart[i+1]-v.mStart[i]), 10)
		last = 5
	}
	for _, l := range s.path[f] {
		if s.virtOf[l] < 0 {
			if len(cs[last]) > 0 {
				cs[last] = append(cs[last], ',')
			}
			cs[last] = append(cs[last], s.linkID[l]...)
		}
	}
	if len(cs[last]) == 0 {
		cs[last] = append(cs[last], '-')
	}
	return cs
}

func (v *reportView) linkCells(cs [][]byte, l int32) [][]byte {
	s := v.s
	cs = cells(cs, 6)
	id, _ := v.linkName(l)
	cs[0] = append(cs[0], id...)
	cs[1] = strconv.AppendInt(cs[1], int64(s.levelL[l]), 10)
	if s.levelL[l] > 0 {
		cs[2] = appendTableNum(cs[2], s.share[l])
	} else {
		cs[2] = append(cs[2], '-')
	}
	cs[3] = appendTableNum(cs[3], v.load[l])
	cs[4] = appendTableNum(cs[4], s.capa[l])
	cs[5] = strconv.AppendInt(cs[5], int64(len(s.linkFlows[l])), 10)
	return cs
}

// tableWriter aligns a block of rows: every cell but the last of a row is padded to
// its column's width (the widest cell of the block, in runes) plus two spaces.
type tableWriter struct {
	w     *bufio.Writer
	buf   []byte
	width []int
}

const tablePadding = 2

// begin starts a block with the header's cells measured.
func (t *tableWriter) begin(head []string) {
	t.width = t.width[:0]
	for _, h := range head[:len(head)-1] {
		t.width = append(t.width, utf8.RuneCountInString(h))
	}
}

func (t *tableWriter) measure(cs [][]byte) {
	for i, c := range cs[:len(cs)-1] {
		if n := utf8.RuneCount(c); n > t.width[i] {
			t.width[i] = n
		}
	}
}

// line writes a row of strings (a header) with the block's widths.
func (t *tableWriter) line(cs []string) {
	for i, c := range cs {
		t.buf = append(t.buf, c...)
		if i < len(cs)-1 {
			t.pad(t.width[i] + tablePadding - utf8.RuneCountInString(c))
		}
	}
	t.buf = append(t.buf, '\n')
}

func (t *tableWriter) row(cs [][]byte) error {
	for i, c := range cs {
		t.buf = append(t.buf, c...)
		if i < len(cs)-1 {
			t.pad(t.width[i] + tablePadding - utf8.RuneCount(c))
		}
	}
	t.buf = append(t.buf, '\n')
	if len(t.buf) > 64<<10 {
		if _, err := t.w.Write(t.buf); err != nil {
			return err
		}
		t.buf = t.buf[:0]
	}
	return nil
}

func (t *tableWriter) pad(n int) {
	for ; n > 0; n-- {
		t.buf = append(t.buf, ' ')
	}
}
