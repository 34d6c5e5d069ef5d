package dataset

import (
	"encoding/json"
	"io"
	"math"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// SchemaVersion is the version of the Parquet tables and of dataset.json.
const SchemaVersion = 3

// SampleRow is one row of parquet/samples: one labelled traffic matrix.
type SampleRow struct {
	Sample        int64   `parquet:"sample"`
	Scenario      int64   `parquet:"scenario"`
	Topology      string  `parquet:"topology,dict"`
	Nodes         int32   `parquet:"nodes"`
	Links         int32   `parquet:"links"`
	FailedLinks   string  `parquet:"failed_links"`
	TrafficModel  string  `parquet:"traffic_model,dict"`
	IntensityGbps float64 `parquet:"intensity_gbps"`
	Flows         int32   `parquet:"flows"`
	Levels        int32   `parquet:"levels"`
	TotalRateGbps float64 `parquet:"total_rate_gbps"`
	// LabelSource is "model", or "model+emulation" for a sample emulate re-measured.
	LabelSource         string   `parquet:"label_source,dict"`
	EmulatedSeconds     *float64 `parquet:"emulated_seconds,optional"`
	EmulatedScale       *float64 `parquet:"emulated_scale,optional"`
	EmulatedFailedFlows *int32   `parquet:"emulated_failed_flows,optional"`
	// EmulatedLatency is how the lab applied the links' latencies (Emulated.Latency).
	EmulatedLatency *string `parquet:"emulated_latency,optional,dict"`
}

// FlowRow is one row of parquet/flows: one flow of one sample. Delay, jitter and loss
// come from the queueing model with labels.queue, and are null (absent) otherwise.
type FlowRow struct {
	Sample     int64    `parquet:"sample"`
	Flow       int32    `parquet:"flow"`
	Src        int32    `parquet:"src"`
	Dst        int32    `parquet:"dst"`
	SrcDevice  string   `parquet:"src_device,dict"`
	DstDevice  string   `parquet:"dst_device,dict"`
	Hops       int32    `parquet:"hops"`
	DemandGbps float64  `parquet:"demand_gbps"`
	RateGbps   float64  `parquet:"rate_gbps"`
	Level      int32    `parquet:"bottleneck_level"`
	DelayMs    *float64 `parquet:"delay_ms,optional"`
	JitterMs   *float64 `parquet:"jitter_ms,optional"`
	Loss       *float64 `parquet:"loss,optional"`
	// Emulation-measured labels (spec.emulate), null for samples not emulated.
	EmulatedRateGbps    *float64 `parquet:"emulated_rate_gbps,optional"`
	EmulatedRTTMs       *float64 `parquet:"emulated_rtt_ms,optional"`
	EmulatedRetransmits *int32   `parquet:"emulated_retransmits,optional"`
	EmulatedLoss        *float64 `parquet:"emulated_loss,optional"`
	ElasticRateGbps     *float64 `parquet:"elastic_rate_gbps,optional"`
}

// LinkRow is one row of parquet/links: one directed link of one sample.
type LinkRow struct {
	Sample       int64    `parquet:"sample"`
	Link         string   `parquet:"link,dict"`
	Src          int32    `parquet:"src"`
	Dst          int32    `parquet:"dst"`
	CapacityGbps float64  `parquet:"capacity_gbps"`
	LatencyMs    float64  `parquet:"latency_ms"`
	LoadGbps     float64  `parquet:"load_gbps"`
	Utilization  float64  `parquet:"utilization"`
	Level        int32    `parquet:"bottleneck_level"`
	GradientUp   *float64 `parquet:"gradient_up,optional"`
	GradientDown *float64 `parquet:"gradient_down,optional"`
	Loss         *float64 `parquet:"loss,optional"`
}

// Column documents one column of a table.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Unit string `json:"unit,omitempty"`
	Null string `json:"null,omitempty"`
	Doc  string `json:"doc"`
}

// Schema is the column schema of the Parquet tables, written to schema.json.
func Schema() map[string][]Column {
	const absent = "null unless labels.queue is set, and for a sample the queueing model does not converge on (absent, not zero)"
	const emuNull = "null unless the sample was emulated (label_source = model+emulation)"
	const emuFlowNull = emuNull + ", and for a flow whose measurement failed (emulated_failed_flows)"
	return map[string][]Column{
		"samples": {
			{"sample", "int64", "", "", "sample index, 0-based, global over the dataset"},
			{"scenario", "int64", "", "", "scenario index (topology, failures and routing shared by its samples)"},
			{"topology", "string", "", "", "generator spec or file:<path> the topology came from"},
			{"nodes", "int32", "", "", "devices of the topology (node numbers 0..nodes-1)"},
			{"links", "int32", "", "", "directed links after failures"},
			{"failed_links", "string", "", "", "comma-separated IDs of the failed (removed) links, sorted"},
			{"traffic_model", "string", "", "", "uniform, gravity or hotspot"},
			{"intensity_gbps", "double", "Gb/s", "", "mean flow demand of the sample"},
			{"flows", "int32", "", "", "flows of the sample"},
			{"levels", "int32", "", "", "levels of the bottleneck structure"},
			{"total_rate_gbps", "double", "Gb/s", "", "sum of the flows' max-min rates"},
			{"label_source", "string", "", "", "model: every label comes from the models; model+emulation: the flows' emulated_* columns were also measured in the netns sandbox (spec.emulate)"},
			{"emulated_seconds", "double", "s", emuNull, "how long the sample's TCP flows ran in emulation (the first quarter is warmup, not measured)"},
			{"emulated_scale", "double", "", emuNull, "the lab's rate scale: a link of c Gb/s ran at c × 1e9 × emulated_scale bit/s (the emulated_* rates are divided by it)"},
			{"emulated_failed_flows", "int32", "", emuNull, "flows of the sample whose measurement failed (their emulated_* columns are null)"},
			{"emulated_latency", "string", "", emuNull, "how the lab applied the links' latency_ms: netem, delay_line (userspace delay lines, the kernel has no netem), not_applied (links have latencies, the lab added none: emulated RTTs lack the propagation delay) or no_latency (no link has one)"},
		},
		"flows": {
			{"sample", "int64", "", "", "sample index"},
			{"flow", "int32", "", "", "flow index within the sample"},
			{"src", "int32", "", "", "source node number (device order of the topology)"},
			{"dst", "int32", "", "", "destination node number"},
			{"src_device", "string", "", "", "source device ID"},
			{"dst_device", "string", "", "", "destination device ID"},
			{"hops", "int32", "", "", "links on the routed path"},
			{"demand_gbps", "double", "Gb/s", "", "offered demand (rate cap)"},
			{"rate_gbps", "double", "Gb/s", "", "max-min fair rate from the bottleneck structure"},
			{"bottleneck_level", "int32", "", "", "level of the structure that fixed the flow (1-based)"},
			{"delay_ms", "double", "ms", absent, "mean one-way delay"},
			{"jitter_ms", "double", "ms", absent, "delay variation"},
			{"loss", "double", "ratio", absent, "packet loss ratio"},
			{"emulated_rate_gbps", "double", "Gb/s", emuFlowNull, "MEASURED in emulation: the flow's TCP goodput, divided by the lab's scale and the goodput factor 1448/1514 so that it compares with rate_gbps; not deterministic"},
			{"emulated_rtt_ms", "double", "ms", emuFlowNull, "MEASURED in emulation: the kernel's smoothed RTT at the end of the run"},
			{"emulated_retransmits", "int32", "segments", emuFlowNull, "MEASURED in emulation: segments retransmitted within the measurement window"},
			{"emulated_loss", "double", "ratio", emuFlowNull + ", and when the flow sent no data segment within the window", "MEASURED in emulation: segments retransmitted over data segments sent within the measurement window (the kernel's count, an estimate of the loss the flow saw)"},
			{"elastic_rate_gbps", "double", "Gb/s", emuNull, "model: max-min rate of the sample's flows without demand caps, the reference for emulated_rate_gbps (emulated TCP flows are greedy, they do not pace to demand_gbps)"},
		},
		"links": {
			{"sample", "int64", "", "", "sample index"},
			{"link", "string", "", "", "directed link ID (link ID, \"~r\" suffix for the reverse direction)"},
			{"src", "int32", "", "", "node number the link leaves"},
			{"dst", "int32", "", "", "node number the link enters"},
			{"capacity_gbps", "double", "Gb/s", "", "capacity"},
			{"latency_ms", "double", "ms", "", "propagation latency"},
			{"load_gbps", "double", "Gb/s", "", "sum of the rates of the flows crossing the link"},
			{"utilization", "double", "ratio", "", "load / capacity"},
			{"bottleneck_level", "int32", "", "", "level at which the link bottlenecks flows, 0 if never"},
			{"gradient_up", "double", "Gb/s per Gb/s", "null unless labels.gradients is set", "∂ total rate / ∂ capacity, capacity added"},
			{"gradient_down", "double", "Gb/s per Gb/s", "null unless labels.gradients is set", "∂ total rate / ∂ capacity, capacity removed"},
			{"loss", "double", "ratio", absent, "packet loss ratio"},
		},
	}
}

func writeSchema(w io.Writer) error {
	b, err := json.MarshalIndent(map[string]any{"schema_version": SchemaVersion, "tables": Schema()}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeParquet writes rows as one Parquet file (zstd, one row group per 64k rows).
func writeParquet[T any](w io.Writer, rows []T) error {
	pw := parquet.NewGenericWriter[T](w,
		parquet.Compression(&parquet.Zstd),
		parquet.KeyValueMetadata("twinflow.schema_version", strconv.Itoa(SchemaVersion)),
		parquet.PageBufferSize(1<<20))
	for len(rows) > 0 {
		n := min(len(rows), 65536)
		if _, err := pw.Write(rows[:n]); err != nil {
			return err
		}
		if err := pw.Flush(); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return pw.Close()
}

func (sc *scenario) parquetRows(samples []*sample) ([]SampleRow, []FlowRow, []LinkRow) {
	failed := ""
	for i, f := range sc.failed {
		if i > 0 {
			failed += ","
		}
		failed += f
	}
	nf := 0
	for _, sm := range samples {
		nf += len(sm.src)
	}
	srows := make([]SampleRow, 0, len(samples))
	frows := make([]FlowRow, 0, nf)
	lrows := make([]LinkRow, 0, len(samples)*len(sc.links))
	n := sc.n()
	for _, sm := range samples {
		srows = append(srows, SampleRow{
			Sample: int64(sm.index), Scenario: int64(sc.index), Topology: sc.topology,
			Nodes: int32(n), Links: int32(len(sc.links)), FailedLinks: failed,
			TrafficModel: sm.model, IntensityGbps: sm.intensity, Flows: int32(len(sm.src)),
			Levels: int32(sm.levels), TotalRateGbps: sm.total, LabelSource: "model",
		})
		if sm.emulated {
			r := &srows[len(srows)-1]
			sec, scale, failed := sm.emuSeconds, sm.emuScale, sm.emuFailed
			lat := sm.emuLatency
			r.LabelSource, r.EmulatedSeconds, r.EmulatedScale, r.EmulatedFailedFlows, r.EmulatedLatency = "model+emulation", &sec, &scale, &failed, &lat
		}
		for f := range sm.src {
			a, b := sm.src[f], sm.dst[f]
			frows = append(frows, FlowRow{
				Sample: int64(sm.index), Flow: int32(f), Src: a, Dst: b,
				SrcDevice: sc.nodes[a], DstDevice: sc.nodes[b],
				Hops:       int32(len(sc.paths[int(a)*n+int(b)])),
				DemandGbps: sm.demand[f], RateGbps: sm.rate[f], Level: sm.level[f],
			})
			if sm.queued && sm.qok[f] {
				r := &frows[len(frows)-1]
				d, j, lo := sm.delay[f], sm.jitter[f], sm.floss[f]
				r.DelayMs, r.JitterMs, r.Loss = &d, &j, &lo
			}
			if sm.emulated {
				r := &frows[len(frows)-1]
				el := sm.elastic[f]
				r.ElasticRateGbps = finiteOrNil(el)
			}
			if sm.emulated && sm.emuOK[f] {
				r := &frows[len(frows)-1]
				retx := sm.emuRetx[f]
				r.EmulatedRateGbps, r.EmulatedRTTMs, r.EmulatedRetransmits = finiteOrNil(sm.emuRate[f]), finiteOrNil(sm.emuRTT[f]), &retx
				r.EmulatedLoss = finiteOrNil(sm.emuLoss[f])
			}
		}
		for l, lk := range sc.links {
			r := LinkRow{
				Sample: int64(sm.index), Link: lk.ID, Src: sc.from[l], Dst: sc.to[l],
				CapacityGbps: lk.Capacity, LatencyMs: sc.latency[l], LoadGbps: sm.load[l],
				Utilization: sm.load[l] / lk.Capacity, Level: sm.linkLevel[l],
			}
			if sm.gradUp != nil {
				up, down := sm.gradUp[l], sm.gradDown[l]
				r.GradientUp, r.GradientDown = &up, &down
			}
			if sm.queued && sm.lok[l] {
				lo := sm.linkLoss[l]
				r.Loss = &lo
			}
			lrows = append(lrows, r)
		}
	}
	return srows, frows, lrows
}

// finiteOrNil is a pointer to v, or nil (null: absent) if v is NaN or infinite:
// Parquet columns hold no NaN.
func finiteOrNil(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}
