package alto

import (
	"math"
	"regexp"
	"slices"
	"strconv"
)

// CostType is an ALTO cost type (RFC 7285 §10.7; cost-source from RFC 9439 §3.1).
type CostType struct {
	Mode   string `json:"cost-mode"`
	Metric string `json:"cost-metric"`
	Source string `json:"cost-source,omitempty"`
}

// Cost modes.
const (
	ModeNumerical = "numerical"
	ModeOrdinal   = "ordinal"
	ModeArray     = "array"
)

// namedCostType is a cost type of the IRD's meta "cost-types".
type namedCostType struct {
	Name string
	Type CostType
}

// costTypes are the cost types the server offers, by IRD name.
var costTypes = []namedCostType{
	{"num-routingcost", CostType{Mode: ModeNumerical, Metric: MetricRoutingCost}},
	{"ord-routingcost", CostType{Mode: ModeOrdinal, Metric: MetricRoutingCost}},
	{"num-hopcount", CostType{Mode: ModeNumerical, Metric: MetricHopCount}},
	{"ord-hopcount", CostType{Mode: ModeOrdinal, Metric: MetricHopCount}},
	{"num-bw-available-est", CostType{Mode: ModeNumerical, Metric: MetricBWAvailable, Source: "estimation"}},
	{"path-vector", CostType{Mode: ModeArray, Metric: MetricANEPath}},
}

func scalarCostTypeNames() []string {
	var out []string
	for _, c := range costTypes {
		if c.Type.Mode != ModeArray {
			out = append(out, c.Name)
		}
	}
	return out
}

// parseCostType reads a CostType object at field name of o and checks it against the
// offered types (array mode only when allowArray, scalar only otherwise).
func parseCostType(o object, name string, array bool) (CostType, *Error) {
	co, _, e := o.obj(name, true)
	if e != nil {
		return CostType{}, e
	}
	return parseCostTypeObj(co, array)
}

func parseCostTypeObj(co object, array bool) (CostType, *Error) {
	mode, _, e := co.str("cost-mode", true)
	if e != nil {
		return CostType{}, e
	}
	metric, _, e := co.str("cost-metric", true)
	if e != nil {
		return CostType{}, e
	}
	src, _, e := co.str("cost-source", false)
	if e != nil {
		return CostType{}, e
	}
	ct := CostType{Mode: mode, Metric: metric, Source: src}
	known := false
	for _, c := range costTypes {
		if c.Type.Metric == metric {
			known = true
		}
	}
	if !known {
		return CostType{}, invalidValue(co.at("cost-metric"), metric)
	}
	for _, c := range costTypes {
		if c.Type.Metric != metric || c.Type.Mode != mode {
			continue
		}
		if (c.Type.Mode == ModeArray) != array {
			break
		}
		if src != "" && src != c.Type.Source {
			return CostType{}, invalidValue(co.at("cost-source"), src)
		}
		ct.Source = c.Type.Source
		return ct, nil
	}
	return CostType{}, invalidValue(co.at("cost-mode"), mode)
}

// constraint is one "[index] op value" test (RFC 7285 §11.3.2.3, RFC 8189 §4.1.2).
type constraint struct {
	index int // into the tested cost types
	op    string
	value float64
}

var constraintRe = regexp.MustCompile(`^\s*(?:\[\s*(\d+)\s*\]\s+)?(gt|lt|ge|le|eq)\s+(\S+)\s*$`)

func parseConstraint(field, s string, ntest int, allowBare bool) (constraint, *Error) {
	m := constraintRe.FindStringSubmatch(s)
	if m == nil {
		return constraint{}, invalidValue(field, s)
	}
	c := constraint{op: m[2]}
	if m[1] != "" {
		i, err := strconv.Atoi(m[1])
		if err != nil || i >= ntest {
			return constraint{}, invalidValue(field, s)
		}
		c.index = i
	} else if !allowBare {
		return constraint{}, invalidValue(field, s)
	}
	v, err := strconv.ParseFloat(m[3], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return constraint{}, invalidValue(field, s)
	}
	c.value = v
	return c, nil
}

func (c constraint) holds(vals []float64) bool {
	v := vals[c.index]
	if math.IsNaN(v) {
		return false
	}
	switch c.op {
	case "gt":
		return v > c.value
	case "lt":
		return v < c.value
	case "ge":
		return v >= c.value
	case "le":
		return v <= c.value
	}
	return v == c.value
}

// costQuery is a parsed (filtered or endpoint) cost request: the returned cost types,
// the tested ones and the constraints (AND within a group, OR across groups).
type costQuery struct {
	multi    bool // multi-cost-types was used (values are arrays)
	types    []CostType
	testable []CostType // tested types (the returned ones when testable-cost-types is absent)
	groups   [][]constraint
}

// parseCostQuery reads cost-type or multi-cost-types, testable-cost-types,
// constraints and or-constraints (RFC 7285 §11.3.2.3, RFC 8189 §4).
func parseCostQuery(o object, maxCostTypes int) (*costQuery, *Error) {
	q := &costQuery{}
	hasCT, hasMulti := o.has("cost-type"), o.has("multi-cost-types")
	switch {
	case hasCT && hasMulti:
		return nil, invalidValue("multi-cost-types", "cost-type and multi-cost-types are mutually exclusive")
	case !hasCT && !hasMulti:
		return nil, missingField("cost-type")
	case hasCT:
		ct, e := parseCostType(o, "cost-type", false)
		if e != nil {
			return nil, e
		}
		q.types = []CostType{ct}
	default:
		q.multi = true
		l, _, e := o.objList("multi-cost-types", true)
		if e != nil {
			return nil, e
		}
		if len(l) == 0 || len(l) > maxCostTypes {
			return nil, invalidValue("multi-cost-types", len(l))
		}
		for _, co := range l {
			ct, e := parseCostTypeObj(co, false)
			if e != nil {
				return nil, e
			}
			q.types = append(q.types, ct)
		}
	}
	q.testable = q.types
	explicitTestable := o.has("testable-cost-types")
	if explicitTestable {
		l, _, e := o.objList("testable-cost-types", true)
		if e != nil {
			return nil, e
		}
		if len(l) == 0 || len(l) > maxCostTypes {
			return nil, invalidValue("testable-cost-types", len(l))
		}
		q.testable = nil
		for _, co := range l {
			ct, e := parseCostTypeObj(co, false)
			if e != nil {
				return nil, e
			}
			q.testable = append(q.testable, ct)
		}
	}
	hasC, hasOr := o.has("constraints"), o.has("or-constraints")
	if hasC && hasOr {
		return nil, invalidValue("or-constraints", "constraints and or-constraints are mutually exclusive")
	}
	// a bare "op value" tests the single cost type (RFC 7285 form)
	bare := len(q.testable) == 1
	if hasC {
		cs, _, e := o.strList("constraints", true)
		if e != nil {
			return nil, e
		}
		var g []constraint
		for i, s := range cs {
			c, e := parseConstraint("constraints/"+strconv.Itoa(i), s, len(q.testable), bare)
			if e != nil {
				return nil, e
			}
			g = append(g, c)
		}
		if len(g) > 0 {
			q.groups = [][]constraint{g}
		}
	}
	if hasOr {
		ll, _, e := o.strListList("or-constraints")
		if e != nil {
			return nil, e
		}
		if len(ll) == 0 {
			return nil, invalidValue("or-constraints", "must not be empty")
		}
		for i, l := range ll {
			if len(l) == 0 {
				return nil, invalidValue("or-constraints/"+strconv.Itoa(i), "must not be empty")
			}
			var g []constraint
			for j, s := range l {
				c, e := parseConstraint("or-constraints/"+strconv.Itoa(i)+"/"+strconv.Itoa(j), s, len(q.testable), bare)
				if e != nil {
					return nil, e
				}
				g = append(g, c)
			}
			q.groups = append(q.groups, g)
		}
	}
	return q, nil
}

// passes reports whether tested values (one per testable type) satisfy the query's
// constraints.
func (q *costQuery) passes(tested []float64) bool {
	if len(q.groups) == 0 {
		return true
	}
	for _, g := range q.groups {
		ok := true
		for _, c := range g {
			if !c.holds(tested) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// ordinal replaces vals by their dense ranks among the non-NaN values (1 = lowest
// cost, equal costs share a rank; RFC 7285 §6.1.2.2), in place.
func ordinal(vals []float64) {
	sorted := make([]float64, 0, len(vals))
	for _, v := range vals {
		if !math.IsNaN(v) {
			sorted = append(sorted, v)
		}
	}
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for i, v := range vals {
		if !math.IsNaN(v) {
			r, _ := slices.BinarySearch(sorted, v)
			vals[i] = float64(r + 1)
		}
	}
}
