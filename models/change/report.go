package change

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	// Skip marks a check that did not apply (e.g. no flows with a latency SLO).
	Skip Status = "skip"
)

// Check is one validation check and its outcome, with the evidence behind it.
type Check struct {
	// Name identifies the check, e.g. "l0.conflicts.ip" or "l1.ripple".
	Name    string `json:"name"`
	Level   Level  `json:"level"`
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
	// Evidence holds the data the outcome rests on (paths, bottleneck links,
	// gradients, conflicting elements).
	Evidence any `json:"evidence,omitempty"`
}

// KPI is a predicted key performance indicator before and after the change.
type KPI struct {
	Name    string   `json:"name"`    // e.g. "rate", "latency", "total_throughput"
	Subject string   `json:"subject"` // flow or link ID, or "network"
	Unit    string   `json:"unit"`    // "Gb/s", "ms"
	Before  *float64 `json:"before,omitempty"`
	After   *float64 `json:"after,omitempty"`
	// Objective is the SLO bound the KPI is checked against, if any.
	Objective *float64 `json:"objective,omitempty"`
}

// FlowImpact is the ripple effect of a change on one existing flow.
type FlowImpact struct {
	Flow       string  `json:"flow"`
	Owner      string  `json:"owner,omitempty"`
	BeforeGbps float64 `json:"before_gbps"`
	AfterGbps  float64 `json:"after_gbps"`
	DeltaGbps  float64 `json:"delta_gbps"`
	// MinRateGbps is the flow's SLO, 0 if none.
	MinRateGbps float64 `json:"min_rate_gbps,omitempty"`
	// Violates is true when the flow met its SLO before and does not after.
	Violates bool `json:"violates,omitempty"`
	// BottleneckAfter lists the directed links the flow is bottlenecked at after the change.
	BottleneckAfter []string `json:"bottleneck_after,omitempty"`
}

// Report is the result of validating a change in a fork of the live twin.
type Report struct {
	ChangeID string `json:"change_id"`
	Level    Level  `json:"level"`
	// BaseRevision is the live twin revision the fork was taken from.
	BaseRevision uint64       `json:"base_revision"`
	Passed       bool         `json:"passed"`
	Checks       []Check      `json:"checks"`
	KPIs         []KPI        `json:"kpis,omitempty"`
	Ripple       []FlowImpact `json:"ripple,omitempty"`
	// DurationMicros is how long validation took.
	DurationMicros int64 `json:"duration_us"`
}

// Add appends a check and keeps Passed up to date (any failed check fails the report).
func (r *Report) Add(c Check) {
	r.Checks = append(r.Checks, c)
	r.Passed = r.failures() == 0
}

func (r *Report) failures() int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == Fail {
			n++
		}
	}
	return n
}

// Failed returns the failed checks.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

// F64 returns a pointer to v, for KPI fields.
func F64(v float64) *float64 { return &v }
