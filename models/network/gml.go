package network

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// GML (Graph Modelling Language) as used by the Internet Topology Zoo maps to networks
// as follows.
//
// Import reads the first "graph [ ... ]" list. Each "node [ id <int> label <string> ]"
// is a device; each "edge [ source <id> target <id> ]" is a link (directed graphs too:
// every edge is a full-duplex link). Keys read, all optional but id/source/target:
//
//	node: label (device ID, made valid: bytes outside [A-Za-z0-9-_.:/] become '_',
//	      duplicates get "-<id>"), name (device name; default: the label when it was
//	      changed to make the ID), device_type (default packet-router), domain,
//	      drivers ("a,b"), address, oper_status, x and y (km), Latitude and Longitude
//	      (kept as labels geo.latitude/geo.longitude; when x/y are absent they are
//	      projected equirectangularly around the graph's mean latitude), labels [...]
//	edge: id (link ID; default "<a>--<b>"), LinkLabel (link name), capacity_gbps,
//	      else LinkSpeedRaw (b/s), else LinkSpeed × LinkSpeedUnits (K, M, G, T; default
//	      M), else DefaultLinkCapacityGbps; latency_ms, else LatencyMsPerKm × the
//	      great-circle (lat/lon) or planar (x/y) distance of its nodes, else 0;
//	      used_capacity_gbps, oper_status, source_endpoint and target_endpoint
//	      (default: the next free eth<N> of the device), source_endpoint_type and
//	      target_endpoint_type (EndPoint.Type), labels [...]
//	labels: labels [ entry [ key "k" value "v" ] ... ]
//	graph: label (topology ID; else Network; else "gml"), name
//
// Other keys are ignored. Export writes every key above, so an imported network
// exports and re-imports unchanged. Not carried: endpoints no link uses, endpoint
// sample types, config rules, flows, contexts and topologies other than the first.

// Limits of the GML reader.
const (
	maxGMLDepth  = 32
	maxGMLTokens = 20_000_000
)

// Device label keys holding geographic coordinates imported from GML.
const (
	LabelLatitude  = "geo.latitude"
	LabelLongitude = "geo.longitude"
)

const earthRadiusKm = 6371.0

type gmlKind int

const (
	gmlInt gmlKind = iota
	gmlReal
	gmlString
	gmlList
)

// gmlValue is one GML value: a number, a string or a list of key/value pairs.
type gmlValue struct {
	kind gmlKind
	i    int64
	f    float64
	s    string
	list []gmlPair
	line int
}

type gmlPair struct {
	key string
	val gmlValue
}

func (v gmlValue) number() (float64, bool) {
	switch v.kind {
	case gmlInt:
		return float64(v.i), true
	case gmlReal:
		return v.f, true
	case gmlString:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.s), 64)
		return f, err == nil
	}
	return 0, false
}

func (v gmlValue) text() (string, bool) {
	switch v.kind {
	case gmlString:
		return v.s, true
	case gmlInt:
		return strconv.FormatInt(v.i, 10), true
	case gmlReal:
		return strconv.FormatFloat(v.f, 'g', -1, 64), true
	}
	return "", false
}

// first returns the first value with the given key in a list.
func first(list []gmlPair, key string) (gmlValue, bool) {
	for _, p := range list {
		if p.key == key {
			return p.val, true
		}
	}
	return gmlValue{}, false
}

type gmlParser struct {
	src    []byte
	pos    int
	line   int
	tokens int
}

func (p *gmlParser) errorf(format string, a ...any) error {
	return fmt.Errorf("gml: %w: line %d: %s", ErrFormat, p.line, fmt.Sprintf(format, a...))
}

// skip skips white space and comment lines ("#" to end of line).
func (p *gmlParser) skip() {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		default:
			return
		}
	}
}

func isKeyStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isKeyChar(c byte) bool  { return isKeyStart(c) || c >= '0' && c <= '9' }

// list parses key/value pairs until ']' (when nested) or the end of input.
func (p *gmlParser) list(depth int, nested bool) ([]gmlPair, error) {
	if depth > maxGMLDepth {
		return nil, p.errorf("lists nested deeper than %d", maxGMLDepth)
	}
	var out []gmlPair
	for {
		p.skip()
		if p.pos >= len(p.src) {
			if nested {
				return nil, p.errorf("unexpected end of input: missing ']'")
			}
			return out, nil
		}
		if p.src[p.pos] == ']' {
			if !nested {
				return nil, p.errorf("unexpected ']'")
			}
			p.pos++
			return out, nil
		}
		p.tokens++
		if p.tokens > maxGMLTokens {
			return nil, p.errorf("more than %d tokens", maxGMLTokens)
		}
		if !isKeyStart(p.src[p.pos]) {
			return nil, p.errorf("expected a key, got %q", p.peek())
		}
		start := p.pos
		for p.pos < len(p.src) && isKeyChar(p.src[p.pos]) {
			p.pos++
		}
		key := string(p.src[start:p.pos])
		val, err := p.value(depth, key)
		if err != nil {
			return nil, err
		}
		out = append(out, gmlPair{key: key, val: val})
	}
}

func (p *gmlParser) peek() string {
	end := min(p.pos+10, len(p.src))
	s := string(p.src[p.pos:end])
	if i := strings.IndexAny(s, " \t\r\n"); i > 0 {
		s = s[:i]
	}
	return s
}

func (p *gmlParser) value(depth int, key string) (gmlValue, error) {
	p.skip()
	if p.pos >= len(p.src) {
		return gmlValue{}, p.errorf("key %s has no value", key)
	}
	line := p.line
	switch c := p.src[p.pos]; {
	case c == '[':
		p.pos++
		l, err := p.list(depth+1, true)
		if err != nil {
			return gmlValue{}, err
		}
		return gmlValue{kind: gmlList, list: l, line: line}, nil
	case c == '"':
		p.pos++
		start := p.pos
		for p.pos < len(p.src) && p.src[p.pos] != '"' {
			if p.src[p.pos] == '\n' {
				p.line++
			}
			p.pos++
		}
		if p.pos >= len(p.src) {
			return gmlValue{}, fmt.Errorf("gml: %w: line %d: unterminated string for key %s", ErrFormat, line, key)
		}
		s := gmlUnescape(p.src[start:p.pos])
		p.pos++
		return gmlValue{kind: gmlString, s: s, line: line}, nil
	case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.src) {
			c := p.src[p.pos]
			if c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E' {
				p.pos++
				continue
			}
			break
		}
		tok := string(p.src[start:p.pos])
		if i, err := strconv.ParseInt(tok, 10, 64); err == nil {
			return gmlValue{kind: gmlInt, i: i, line: line}, nil
		}
		f, err := strconv.ParseFloat(tok, 64)
		if err != nil || math.IsInf(f, 0) {
			return gmlValue{}, p.errorf("key %s: bad number %q", key, tok)
		}
		return gmlValue{kind: gmlReal, f: f, line: line}, nil
	default:
		return gmlValue{}, p.errorf("key %s: expected a number, string or list, got %q", key, p.peek())
	}
}

// gmlUnescape decodes the character entities GML allows in strings (&amp; &quot;
// &lt; &gt; &apos; &#NNN; &#xHH;) and converts ISO-8859-1 text to UTF-8 when the string
// is not valid UTF-8.
func gmlUnescape(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		s = string(r)
	}
	if !strings.Contains(s, "&") {
		return s
	}
	var out strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			out.WriteString(s)
			return out.String()
		}
		out.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexByte(s, ';')
		if j < 0 || j > 12 {
			out.WriteByte('&')
			s = s[1:]
			continue
		}
		ent := s[1:j]
		var r rune = -1
		switch ent {
		case "amp":
			r = '&'
		case "quot":
			r = '"'
		case "lt":
			r = '<'
		case "gt":
			r = '>'
		case "apos":
			r = '\''
		default:
			if strings.HasPrefix(ent, "#x") || strings.HasPrefix(ent, "#X") {
				if v, err := strconv.ParseUint(ent[2:], 16, 32); err == nil && utf8.ValidRune(rune(v)) {
					r = rune(v)
				}
			} else if strings.HasPrefix(ent, "#") {
				if v, err := strconv.ParseUint(ent[1:], 10, 32); err == nil && utf8.ValidRune(rune(v)) {
					r = rune(v)
				}
			}
		}
		if r < 0 {
			out.WriteByte('&')
			s = s[1:]
			continue
		}
		out.WriteRune(r)
		s = s[j+1:]
	}
}

// gmlEscape writes s as a GML string body: '&' and '"' become entities.
func gmlEscape(s string) string {
	if !strings.ContainsAny(s, "&\"") {
		return s
	}
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;").Replace(s)
}

// sanitizeID turns s into a valid ID: invalid characters (per rune) become '_', an
// empty result becomes "_", and it is cut to MaxIDLength bytes.
func sanitizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf && idChar(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" {
		out = "_"
	}
	if len(out) > MaxIDLength {
		out = out[:MaxIDLength]
	}
	return out
}

// DecodeGML reads a GML graph (see the mapping above) into a network with one context
// DefaultContext and one topology, and validates it.
func DecodeGML(r io.Reader) (*Network, error) {
	b, err := readLimited("gml", r)
	if err != nil {
		return nil, err
	}
	p := &gmlParser{src: b, line: 1}
	top, err := p.list(0, false)
	if err != nil {
		return nil, err
	}
	g, ok := first(top, "graph")
	if !ok || g.kind != gmlList {
		return nil, fmt.Errorf("gml: %w: no \"graph [ ... ]\" list", ErrFormat)
	}
	return gmlNetwork(g.list)
}

type gmlNodeInfo struct {
	dev              int
	lat, lon         float64
	hasGeo, hasPlane bool
}

func gmlNetwork(g []gmlPair) (*Network, error) {
	topoID, topoName := "gml", ""
	if v, ok := first(g, "label"); ok {
		if s, ok := v.text(); ok {
			topoID = sanitizeID(s)
		}
	} else if v, ok := first(g, "Network"); ok {
		if s, ok := v.text(); ok {
			topoID = sanitizeID(s)
		}
	}
	if v, ok := first(g, "name"); ok {
		topoName, _ = v.text()
	}
	n := &Network{
		Contexts:   []Context{{ID: DefaultContext, Name: DefaultContext}},
		Topologies: []Topology{{ID: topoID, Context: DefaultContext, Name: topoName}},
	}
	nodes := map[int64]*gmlNodeInfo{}
	ids := map[string]bool{}
	var edges []gmlValue
	var latSum float64
	var latN int
	nodeIdx := 0
	for _, pr := range g {
		switch pr.key {
		case "edge":
			if pr.val.kind != gmlList {
				return nil, fmt.Errorf("gml: %w: line %d: edge must be a list", ErrFormat, pr.val.line)
			}
			edges = append(edges, pr.val)
			continue
		case "node":
		default:
			continue
		}
		at := fmt.Sprintf("gml: line %d: node[%d]", pr.val.line, nodeIdx)
		nodeIdx++
		if pr.val.kind != gmlList {
			return nil, fmt.Errorf("%s: %w: node must be a list", at, ErrFormat)
		}
		l := pr.val.list
		idv, ok := first(l, "id")
		if !ok || idv.kind != gmlInt {
			return nil, fmt.Errorf("%s: %w: id must be an integer", at, ErrFormat)
		}
		if _, dup := nodes[idv.i]; dup {
			return nil, fmt.Errorf("%s: %w: duplicate id %d", at, ErrFormat, idv.i)
		}
		label := "n" + strconv.FormatInt(idv.i, 10)
		if v, ok := first(l, "label"); ok {
			if s, ok := v.text(); ok && s != "" {
				label = s
			}
		}
		id := sanitizeID(label)
		if ids[id] {
			base := id
			if len(base) > MaxIDLength-21 {
				base = base[:MaxIDLength-21]
			}
			id = base + "-" + strconv.FormatInt(idv.i, 10)
			for k := 2; ids[id]; k++ {
				id = base + "-" + strconv.FormatInt(idv.i, 10) + "-" + strconv.Itoa(k)
			}
		}
		ids[id] = true
		d := Device{ID: id, Type: DeviceRouter}
		if v, ok := first(l, "name"); ok {
			d.Name, _ = v.text()
		} else if label != id {
			d.Name = label
		}
		str := func(key string) string {
			if v, ok := first(l, key); ok {
				s, _ := v.text()
				return s
			}
			return ""
		}
		if t := str("device_type"); t != "" {
			d.Type = DeviceType(t)
		}
		d.Domain, d.Address, d.OperStatus = str("domain"), str("address"), OperStatus(str("oper_status"))
		if s := str("drivers"); s != "" {
			for _, x := range strings.Split(s, ",") {
				if x = strings.TrimSpace(x); x != "" {
					d.Drivers = append(d.Drivers, DriverKind(x))
				}
			}
		} else if _, ok := first(l, "drivers"); !ok {
			d.Drivers = []DriverKind{DriverGNMI}
		}
		info := &gmlNodeInfo{}
		num := func(key string) (float64, bool, error) {
			v, ok := first(l, key)
			if !ok {
				return 0, false, nil
			}
			f, ok := v.number()
			if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, false, fmt.Errorf("%s: %w: %s must be a finite number", at, ErrFormat, key)
			}
			return f, true, nil
		}
		x, hasX, err1 := num("x")
		y, hasY, err2 := num("y")
		lat, hasLat, err3 := num("Latitude")
		lon, hasLon, err4 := num("Longitude")
		for _, err := range []error{err1, err2, err3, err4} {
			if err != nil {
				return nil, err
			}
		}
		if hasX || hasY {
			d.X, d.Y, info.hasPlane = x, y, true
		}
		if lbl, err := gmlLabels(l, at); err != nil {
			return nil, err
		} else {
			d.Labels = lbl
		}
		if hasLat && hasLon {
			info.lat, info.lon, info.hasGeo = lat, lon, true
			latSum += lat
			latN++
			if d.Labels == nil {
				d.Labels = map[string]string{}
			}
			d.Labels[LabelLatitude] = strconv.FormatFloat(lat, 'g', -1, 64)
			d.Labels[LabelLongitude] = strconv.FormatFloat(lon, 'g', -1, 64)
		}
		info.dev = len(n.Devices)
		nodes[idv.i] = info
		n.Devices = append(n.Devices, d)
	}
	// Project geographic coordinates of nodes without x/y.
	if latN > 0 {
		cos := math.Cos(latSum / float64(latN) * math.Pi / 180)
		for _, info := range nodes {
			if info.hasGeo && !info.hasPlane {
				d := &n.Devices[info.dev]
				d.X = math.Round(info.lon*math.Pi/180*earthRadiusKm*cos*1000) / 1000
				d.Y = math.Round(info.lat*math.Pi/180*earthRadiusKm*1000) / 1000
				info.hasPlane = true
			}
		}
	}
	// First pass over edges: endpoints named explicitly, so generated names avoid them.
	taken := map[EndPointRef]bool{}
	for _, e := range edges {
		for _, c := range []struct{ node, ep string }{{"source", "source_endpoint"}, {"target", "target_endpoint"}} {
			sv, ok1 := first(e.list, c.node)
			ev, ok2 := first(e.list, c.ep)
			if !ok1 || !ok2 || sv.kind != gmlInt {
				continue
			}
			if info, ok := nodes[sv.i]; ok {
				if s, ok := ev.text(); ok {
					taken[EndPointRef{n.Devices[info.dev].ID, s}] = true
				}
			}
		}
	}
	nextPort := map[string]int{}
	linkIDs := map[string]bool{}
	for i, e := range edges {
		at := fmt.Sprintf("gml: line %d: edge[%d]", e.line, i)
		var ends [2]*gmlNodeInfo
		var refs [2]EndPointRef
		for j, c := range []struct{ node, ep string }{{"source", "source_endpoint"}, {"target", "target_endpoint"}} {
			v, ok := first(e.list, c.node)
			if !ok || v.kind != gmlInt {
				return nil, fmt.Errorf("%s: %w: %s must be an integer node id", at, ErrFormat, c.node)
			}
			info, ok := nodes[v.i]
			if !ok {
				return nil, fmt.Errorf("%s: %w: %s: unknown node id %d", at, ErrFormat, c.node, v.i)
			}
			ends[j] = info
			d := &n.Devices[info.dev]
			var ep string
			if v, ok := first(e.list, c.ep); ok {
				ep, _ = v.text()
				if msg := CheckID(ep); msg != "" {
					return nil, fmt.Errorf("%s: %w: %s %q: %s", at, ErrFormat, c.ep, ep, msg)
				}
			} else {
				for {
					nextPort[d.ID]++
					ep = "eth" + strconv.Itoa(nextPort[d.ID])
					if !taken[EndPointRef{d.ID, ep}] {
						break
					}
				}
			}
			taken[EndPointRef{d.ID, ep}] = true
			typ := ""
			if v, ok := first(e.list, c.ep+"_type"); ok {
				typ, _ = v.text()
			}
			if k := slices.IndexFunc(d.Endpoints, func(x EndPoint) bool { return x.ID == ep }); k < 0 {
				d.Endpoints = append(d.Endpoints, EndPoint{ID: ep, Type: typ})
			} else if typ != "" {
				d.Endpoints[k].Type = typ
			}
			refs[j] = EndPointRef{Device: d.ID, EndPoint: ep}
		}
		l := Link{Endpoints: refs[:], CapacityGbps: DefaultLinkCapacityGbps}
		text := func(key string) string {
			if v, ok := first(e.list, key); ok {
				s, _ := v.text()
				return s
			}
			return ""
		}
		num := func(key string) (float64, bool, error) {
			v, ok := first(e.list, key)
			if !ok {
				return 0, false, nil
			}
			f, ok := v.number()
			if !ok {
				return 0, false, fmt.Errorf("%s: %w: %s must be a number", at, ErrFormat, key)
			}
			return f, true, nil
		}
		l.ID, l.Name, l.OperStatus = text("id"), text("LinkLabel"), OperStatus(text("oper_status"))
		if l.ID == "" {
			l.ID = uniqueLinkID(linkIDs, refs[0].Device, refs[1].Device)
		}
		linkIDs[l.ID] = true
		if c, ok, err := num("capacity_gbps"); err != nil {
			return nil, err
		} else if ok {
			l.CapacityGbps = c
		} else if raw, ok, err := num("LinkSpeedRaw"); err != nil {
			return nil, err
		} else if ok {
			l.CapacityGbps = raw / 1e9
		} else if sp, ok, err := num("LinkSpeed"); err != nil {
			return nil, err
		} else if ok {
			mult := map[string]float64{"K": 1e-6, "M": 1e-3, "G": 1, "T": 1e3}
			u := strings.ToUpper(strings.TrimSpace(text("LinkSpeedUnits")))
			if u == "" {
				u = "M"
			}
			m, known := mult[u]
			if !known {
				return nil, fmt.Errorf("%s: %w: LinkSpeedUnits %q (want K, M, G or T)", at, ErrFormat, u)
			}
			l.CapacityGbps = sp * m
		}
		if v, ok, err := num("used_capacity_gbps"); err != nil {
			return nil, err
		} else if ok {
			l.UsedGbps = v
		}
		if v, ok, err := num("latency_ms"); err != nil {
			return nil, err
		} else if ok {
			l.LatencyMs = v
		} else if a, z := ends[0], ends[1]; a.hasGeo && z.hasGeo {
			l.LatencyMs = math.Round(haversineKm(a.lat, a.lon, z.lat, z.lon)*LatencyMsPerKm*1e6) / 1e6
		} else if a.hasPlane && z.hasPlane {
			da, dz := n.Devices[a.dev], n.Devices[z.dev]
			l.LatencyMs = math.Round(math.Hypot(da.X-dz.X, da.Y-dz.Y)*LatencyMsPerKm*1e6) / 1e6
		}
		lbl, err := gmlLabels(e.list, at)
		if err != nil {
			return nil, err
		}
		l.Labels = lbl
		n.Links = append(n.Links, l)
	}
	fillTopology(n)
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("gml: %w", err)
	}
	return n, nil
}

func gmlLabels(l []gmlPair, at string) (map[string]string, error) {
	v, ok := first(l, "labels")
	if !ok {
		return nil, nil
	}
	if v.kind != gmlList {
		return nil, fmt.Errorf("%s: %w: labels must be a list", at, ErrFormat)
	}
	var out map[string]string
	for _, e := range v.list {
		if e.key != "entry" || e.val.kind != gmlList {
			return nil, fmt.Errorf("%s: %w: line %d: labels holds %q; want entry [ key \"k\" value \"v\" ]", at, ErrFormat, e.val.line, e.key)
		}
		kv, ok1 := first(e.val.list, "key")
		vv, ok2 := first(e.val.list, "value")
		k, ok3 := kv.text()
		val, ok4 := vv.text()
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("%s: %w: line %d: label entry needs key and value", at, ErrFormat, e.val.line)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = val
	}
	return out, nil
}

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// EncodeGML writes n as a GML graph (see the mapping above), nodes numbered from 0 in
// device order. Links must have two endpoints on known devices.
func EncodeGML(w io.Writer, n *Network) error {
	if n == nil {
		return errors.New("gml: encode: nil network")
	}
	var b bytes.Buffer
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	str := func(indent, key, v string) {
		fmt.Fprintf(&b, "%s%s \"%s\"\n", indent, key, gmlEscape(v))
	}
	labels := func(indent string, m map[string]string, skip ...string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			if !slices.Contains(skip, k) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return
		}
		slices.Sort(keys)
		b.WriteString(indent + "labels [\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "%s  entry [ key \"%s\" value \"%s\" ]\n", indent, gmlEscape(k), gmlEscape(m[k]))
		}
		b.WriteString(indent + "]\n")
	}
	b.WriteString("graph [\n  directed 0\n  multigraph 1\n")
	if len(n.Topologies) > 0 {
		str("  ", "label", n.Topologies[0].ID)
		if n.Topologies[0].Name != "" {
			str("  ", "name", n.Topologies[0].Name)
		}
	}
	numOf := make(map[string]int, len(n.Devices))
	for i, d := range n.Devices {
		if _, dup := numOf[d.ID]; !dup {
			numOf[d.ID] = i
		}
		b.WriteString("  node [\n")
		fmt.Fprintf(&b, "    id %d\n", i)
		str("    ", "label", d.ID)
		if d.Name != "" {
			str("    ", "name", d.Name)
		}
		str("    ", "device_type", string(d.Type))
		ds := make([]string, len(d.Drivers))
		for j, dr := range d.Drivers {
			ds[j] = string(dr)
		}
		str("    ", "drivers", strings.Join(ds, ","))
		for _, kv := range [][2]string{{"domain", d.Domain}, {"address", d.Address}, {"oper_status", string(d.OperStatus)}} {
			if kv[1] != "" {
				str("    ", kv[0], kv[1])
			}
		}
		lat, errLat := strconv.ParseFloat(d.Labels[LabelLatitude], 64)
		lon, errLon := strconv.ParseFloat(d.Labels[LabelLongitude], 64)
		geo := errLat == nil && errLon == nil && !math.IsInf(lat, 0) && !math.IsInf(lon, 0) && !math.IsNaN(lat) && !math.IsNaN(lon) &&
			num(lat) == d.Labels[LabelLatitude] && num(lon) == d.Labels[LabelLongitude]
		if d.X != 0 || d.Y != 0 || geo {
			fmt.Fprintf(&b, "    x %s\n    y %s\n", num(d.X), num(d.Y))
		}
		if geo {
			fmt.Fprintf(&b, "    Latitude %s\n    Longitude %s\n", num(lat), num(lon))
			labels("    ", d.Labels, LabelLatitude, LabelLongitude)
		} else {
			labels("    ", d.Labels)
		}
		b.WriteString("  ]\n")
	}
	epType := map[EndPointRef]string{}
	for _, d := range n.Devices {
		for _, ep := range d.Endpoints {
			if ep.Type != "" {
				epType[EndPointRef{d.ID, ep.ID}] = ep.Type
			}
		}
	}
	for i, l := range n.Links {
		if len(l.Endpoints) != 2 {
			return fmt.Errorf("gml: links[%d]: want 2 endpoints, got %d", i, len(l.Endpoints))
		}
		s, ok1 := numOf[l.Endpoints[0].Device]
		t, ok2 := numOf[l.Endpoints[1].Device]
		if !ok1 || !ok2 {
			return fmt.Errorf("gml: links[%d]: unknown device", i)
		}
		b.WriteString("  edge [\n")
		fmt.Fprintf(&b, "    source %d\n    target %d\n", s, t)
		str("    ", "id", l.ID)
		if l.Name != "" {
			str("    ", "LinkLabel", l.Name)
		}
		str("    ", "source_endpoint", l.Endpoints[0].EndPoint)
		str("    ", "target_endpoint", l.Endpoints[1].EndPoint)
		for j, key := range []string{"source_endpoint_type", "target_endpoint_type"} {
			if t := epType[l.Endpoints[j]]; t != "" {
				str("    ", key, t)
			}
		}
		fmt.Fprintf(&b, "    capacity_gbps %s\n    LinkSpeed %s\n    LinkSpeedUnits \"G\"\n    LinkSpeedRaw %s\n", num(l.CapacityGbps), num(l.CapacityGbps), num(l.CapacityGbps*1e9))
		fmt.Fprintf(&b, "    latency_ms %s\n", num(l.LatencyMs))
		if l.UsedGbps != 0 {
			fmt.Fprintf(&b, "    used_capacity_gbps %s\n", num(l.UsedGbps))
		}
		if l.OperStatus != "" {
			str("    ", "oper_status", string(l.OperStatus))
		}
		labels("    ", l.Labels)
		b.WriteString("  ]\n")
	}
	b.WriteString("]\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("gml: write: %w", err)
	}
	return nil
}
