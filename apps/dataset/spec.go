package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
)

// ErrSpec is wrapped by every error about a dataset spec.
var ErrSpec = errors.New("dataset: invalid spec")

// Bounds of a spec: they bound memory, time and output size.
const (
	MaxSpecBytes          = 1 << 20
	MaxSamples            = 10_000_000
	MaxSamplesPerScenario = 100_000
	MaxTopologies         = 64
	MaxFlows              = 200_000
	MaxFailures           = 64
	MaxNodes              = 5_000
	DefaultPerScenario    = 100
	DefaultFlows          = 100
	DefaultHotSpots       = 2
	DefaultHotFraction    = 0.5
	// PacketBits is the mean packet size (bits) the RouteNet export uses to turn
	// rates into packets per second; TwinFlow's models are fluid models.
	PacketBits = 8000
)

// Emulation bounds (spec.emulate): samples, seconds per sample, flows and nodes of an
// emulated sample.
const (
	MaxEmulateSamples = 100
	MaxEmulateSeconds = 60
	MaxEmulateFlows   = 64
	MaxEmulateNodes   = 64
	DefaultEmulateSec = 10
)

// Traffic-matrix models.
const (
	ModelUniform = "uniform"
	ModelGravity = "gravity"
	ModelHotSpot = "hotspot"
)

// Export formats.
const (
	FormatParquet  = "parquet"
	FormatRouteNet = "routenet"
)

// Spec describes a dataset. Zero values take the documented defaults (Normalize).
type Spec struct {
	// Name is used in file names: 1-64 of [A-Za-z0-9-].
	Name string `yaml:"name" json:"name"`
	// Seed makes the dataset reproducible: the same spec and seed give byte-identical files.
	Seed int64 `yaml:"seed" json:"seed"`
	// Samples is the number of labelled samples (traffic matrices).
	Samples int `yaml:"samples" json:"samples"`
	// SamplesPerScenario samples share one topology, failure set and routing.
	SamplesPerScenario int `yaml:"samples_per_scenario" json:"samples_per_scenario"`
	// Topologies are drawn round-robin by scenario.
	Topologies []TopologySpec `yaml:"topologies" json:"topologies"`
	// Routing is "shortest" (least latency) or "ecmp" (hop count, hashed per src-dst pair).
	Routing string `yaml:"routing" json:"routing"`
	// Traffic says how each sample's flows are drawn.
	Traffic TrafficSpec `yaml:"traffic" json:"traffic"`
	// Failures bounds the random link failures of each scenario.
	Failures FailureSpec `yaml:"failures" json:"failures"`
	// Labels selects optional labels.
	Labels LabelSpec `yaml:"labels" json:"labels"`
	// Formats lists the exports: parquet, routenet (default both).
	Formats []string `yaml:"formats" json:"formats"`
	// Emulate, if set, re-measures the first Emulate.Samples samples in the netns
	// emulation sandbox (twin/emulation) and adds the measured labels, marked as such,
	// to the Parquet tables. Measurements are not deterministic: the same seed gives
	// byte-identical files only without emulate.
	Emulate *EmulateSpec `yaml:"emulate,omitempty" json:"emulate,omitempty"`
}

// EmulateSpec selects the samples labelled by emulation as well as by the models.
type EmulateSpec struct {
	// Samples: the samples 0..Samples-1 (the first ones, fixed by the spec and seed).
	Samples int `yaml:"samples" json:"samples"`
	// Seconds each sample's TCP flows run (the first quarter is warmup, not measured).
	Seconds int `yaml:"seconds" json:"seconds"`
	// MaxFlows refuses an emulated sample with more flows (default and at most
	// MaxEmulateFlows: one TCP connection and one HTB class per flow in the sandbox).
	MaxFlows int `yaml:"max_flows" json:"max_flows"`
}

// TopologySpec is one topology family: a generator spec of network.Generate
// ("wan:n=50", "fat-tree:k=4", "leaf-spine:leaves=4,spines=2,hosts=2", "ring:n=8") or
// an imported network file (JSON, YAML, GML, containerlab; relative to the spec file).
// Generators that take a seed (wan) get a new seed per scenario.
type TopologySpec struct {
	Generator string `yaml:"generator,omitempty" json:"generator,omitempty"`
	File      string `yaml:"file,omitempty" json:"file,omitempty"`
}

// TrafficSpec says how flows are drawn.
type TrafficSpec struct {
	// Models are used round-robin by sample: uniform, gravity, hotspot.
	Models []string `yaml:"models" json:"models"`
	// Flows per sample, between endpoints (hosts if the topology has hosts, otherwise
	// every device).
	Flows int `yaml:"flows" json:"flows"`
	// IntensityGbps is the range [lo, hi] of a sample's mean flow demand; each flow's
	// demand is uniform in (0, 2·mean].
	IntensityGbps [2]float64 `yaml:"intensity_gbps" json:"intensity_gbps"`
	// HotSpots is the number of hot destinations of the hotspot model.
	HotSpots int `yaml:"hot_spots" json:"hot_spots"`
	// HotFraction is the share of flows the hotspot model sends to hot destinations.
	HotFraction float64 `yaml:"hot_fraction" json:"hot_fraction"`
}

// FailureSpec bounds the link failures of a scenario: each scenario fails a uniform
// number of links in [0, Max], chosen at random among the links whose loss keeps the
// topology connected.
type FailureSpec struct {
	Max int `yaml:"max" json:"max"`
}

// LabelSpec selects optional labels.
type LabelSpec struct {
	// Gradients adds ∂(total throughput)/∂capacity of each directed link, both sides.
	Gradients bool `yaml:"gradients" json:"gradients"`
	// Queue adds per-flow delay, jitter and loss and per-link loss from the queueing
	// model (models/queue) to the Parquet tables. A sample the model cannot label
	// (it does not converge) keeps them absent (null), never zero.
	Queue bool `yaml:"queue" json:"queue,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func specErr(field, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrSpec, field, fmt.Sprintf(format, a...))
}

// ParseSpec decodes a YAML spec strictly (unknown fields are errors), applies the
// defaults and validates it.
func ParseSpec(b []byte) (*Spec, error) {
	if len(b) > MaxSpecBytes {
		return nil, specErr("spec", "larger than %d bytes", MaxSpecBytes)
	}
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpec, err)
	}
	if err := s.Normalize(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Normalize applies defaults and validates s, naming the offending field.
func (s *Spec) Normalize() error {
	if !nameRE.MatchString(s.Name) {
		return specErr("name", "must be 1-64 of [A-Za-z0-9-], got %q", s.Name)
	}
	if s.Samples < 1 || s.Samples > MaxSamples {
		return specErr("samples", "must be in [1, %d], got %d", MaxSamples, s.Samples)
	}
	if s.SamplesPerScenario == 0 {
		s.SamplesPerScenario = DefaultPerScenario
	}
	if s.SamplesPerScenario < 1 || s.SamplesPerScenario > MaxSamplesPerScenario {
		return specErr("samples_per_scenario", "must be in [1, %d], got %d", MaxSamplesPerScenario, s.SamplesPerScenario)
	}
	if len(s.Topologies) < 1 || len(s.Topologies) > MaxTopologies {
		return specErr("topologies", "need 1 to %d entries, got %d", MaxTopologies, len(s.Topologies))
	}
	for i, t := range s.Topologies {
		if (t.Generator == "") == (t.File == "") {
			return specErr(fmt.Sprintf("topologies[%d]", i), "set exactly one of generator and file")
		}
	}
	if s.Routing == "" {
		s.Routing = string(bottleneck.RouteShortest)
	}
	if s.Routing != string(bottleneck.RouteShortest) && s.Routing != string(bottleneck.RouteECMP) {
		return specErr("routing", "must be shortest or ecmp, got %q", s.Routing)
	}
	t := &s.Traffic
	if len(t.Models) == 0 {
		t.Models = []string{ModelUniform, ModelGravity, ModelHotSpot}
	}
	for i, m := range t.Models {
		if m != ModelUniform && m != ModelGravity && m != ModelHotSpot {
			return specErr(fmt.Sprintf("traffic.models[%d]", i), "must be uniform, gravity or hotspot, got %q", m)
		}
	}
	if t.Flows == 0 {
		t.Flows = DefaultFlows
	}
	if t.Flows < 1 || t.Flows > MaxFlows {
		return specErr("traffic.flows", "must be in [1, %d], got %d", MaxFlows, t.Flows)
	}
	if t.IntensityGbps == [2]float64{} {
		t.IntensityGbps = [2]float64{0.5, 2}
	}
	lo, hi := t.IntensityGbps[0], t.IntensityGbps[1]
	if !(lo > 0) || !(hi >= lo) || math.IsInf(hi, 0) {
		return specErr("traffic.intensity_gbps", "want 0 < lo <= hi < inf, got [%v, %v]", lo, hi)
	}
	if t.HotSpots == 0 {
		t.HotSpots = DefaultHotSpots
	}
	if t.HotSpots < 1 || t.HotSpots > MaxNodes {
		return specErr("traffic.hot_spots", "must be in [1, %d], got %d", MaxNodes, t.HotSpots)
	}
	if t.HotFraction == 0 {
		t.HotFraction = DefaultHotFraction
	}
	if !(t.HotFraction > 0 && t.HotFraction <= 1) {
		return specErr("traffic.hot_fraction", "must be in (0, 1], got %v", t.HotFraction)
	}
	if s.Failures.Max < 0 || s.Failures.Max > MaxFailures {
		return specErr("failures.max", "must be in [0, %d], got %d", MaxFailures, s.Failures.Max)
	}
	if len(s.Formats) == 0 {
		s.Formats = []string{FormatParquet, FormatRouteNet}
	}
	for i, f := range s.Formats {
		if f != FormatParquet && f != FormatRouteNet {
			return specErr(fmt.Sprintf("formats[%d]", i), "must be parquet or routenet, got %q", f)
		}
	}
	if e := s.Emulate; e != nil {
		if e.Samples < 1 || e.Samples > MaxEmulateSamples {
			return specErr("emulate.samples", "must be in [1, %d], got %d", MaxEmulateSamples, e.Samples)
		}
		if e.Samples > s.Samples {
			return specErr("emulate.samples", "%d is more than the dataset's %d samples", e.Samples, s.Samples)
		}
		if e.Seconds == 0 {
			e.Seconds = DefaultEmulateSec
		}
		if e.Seconds < 2 || e.Seconds > MaxEmulateSeconds {
			return specErr("emulate.seconds", "must be in [2, %d], got %d", MaxEmulateSeconds, e.Seconds)
		}
		if e.MaxFlows == 0 {
			e.MaxFlows = MaxEmulateFlows
		}
		if e.MaxFlows < 1 || e.MaxFlows > MaxEmulateFlows {
			return specErr("emulate.max_flows", "must be in [1, %d], got %d", MaxEmulateFlows, e.MaxFlows)
		}
		if t.Flows > e.MaxFlows {
			return specErr("emulate.max_flows", "an emulated sample would have %d flows (traffic.flows) but the sandbox runs at most %d (max_flows)", t.Flows, e.MaxFlows)
		}
		if !s.has(FormatParquet) {
			return specErr("emulate", "emulated labels are written to the Parquet tables only: add parquet to formats")
		}
	}
	return nil
}

// emulated reports whether sample i is labelled by emulation too.
func (s *Spec) emulated(i int) bool { return s.Emulate != nil && i < s.Emulate.Samples }

// Scenarios is the number of scenarios of s.
func (s *Spec) Scenarios() int {
	return (s.Samples + s.SamplesPerScenario - 1) / s.SamplesPerScenario
}

func (s *Spec) has(format string) bool { return slices.Contains(s.Formats, format) }

// Imported holds the networks of a spec's file topologies, keyed by TopologySpec.File.
type Imported map[string]*network.Network

// LoadSpec reads a spec file and the network files it imports (relative to the spec's
// directory). Imported files are decoded and validated now, so a bad file fails before
// any sample is written.
func LoadSpec(path string) (*Spec, Imported, error) {
	b, err := readBounded(path, MaxSpecBytes)
	if err != nil {
		return nil, nil, err
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	imp := Imported{}
	for i, t := range s.Topologies {
		if t.File == "" {
			continue
		}
		p := t.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		b, err := readBounded(p, network.MaxDocumentBytes)
		if err != nil {
			return nil, nil, fmt.Errorf("topologies[%d]: %w", i, err)
		}
		n, err := network.Decode(bytes.NewReader(b), network.DetectFormat(p, b))
		if err != nil {
			return nil, nil, fmt.Errorf("topologies[%d] %s: %w", i, t.File, err)
		}
		if len(n.Devices) > MaxNodes {
			return nil, nil, specErr(fmt.Sprintf("topologies[%d]", i), "%d devices, at most %d", len(n.Devices), MaxNodes)
		}
		imp[t.File] = n
	}
	return s, imp, nil
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	b := make([]byte, 0, st.Size())
	buf := bytes.NewBuffer(b)
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, max)
	}
	return buf.Bytes(), nil
}

// ParseShard parses "I/N" (0 <= I < N <= 100000).
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(s, "/")
	var sh Shard
	if ok {
		_, err1 := fmt.Sscanf(a, "%d", &sh.Index)
		_, err2 := fmt.Sscanf(b, "%d", &sh.Count)
		if err1 == nil && err2 == nil && fmt.Sprintf("%d/%d", sh.Index, sh.Count) == s && sh.Count >= 1 && sh.Count <= 100000 && sh.Index >= 0 && sh.Index < sh.Count {
			return sh, nil
		}
	}
	return Shard{}, fmt.Errorf("%w: shard must be I/N with 0 <= I < N <= 100000, got %q", ErrSpec, s)
}

// Shard selects the scenarios j with j mod Count == Index.
type Shard struct{ Index, Count int }

func (sh Shard) owns(j int) bool { return sh.Count <= 1 || j%sh.Count == sh.Index }

// ownsAny reports whether the shard owns a scenario holding one of the samples 0..k-1.
func (sh Shard) ownsAny(s *Spec, k int) bool {
	for j := 0; j*s.SamplesPerScenario < k && j < s.Scenarios(); j++ {
		if sh.owns(j) {
			return true
		}
	}
	return false
}
