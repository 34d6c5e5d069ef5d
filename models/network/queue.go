package network

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// QueueDiscipline is how a link direction's egress queue serves packets.
type QueueDiscipline string

// Queue disciplines.
const (
	// QueueFQ is per-flow fair queueing: every flow gets its max-min fair share (the
	// bottleneck-structure model). The default.
	QueueFQ QueueDiscipline = "fq"
	// QueueFIFO is one drop-tail FIFO: loss-based TCP flows share it by their
	// response to loss and delay, not fairly.
	QueueFIFO QueueDiscipline = "fifo"
	// QueuePriority is strict priority between classes (Classes[i].Priority, 0 is
	// served first), each class a drop-tail FIFO.
	QueuePriority QueueDiscipline = "priority"
	// QueueWeighted shares the link between classes by weight (Classes[i].Weight,
	// work-conserving: an idle class's share goes to the busy ones), each class a
	// drop-tail FIFO.
	QueueWeighted QueueDiscipline = "weighted"
)

// CongestionControl is a flow's TCP congestion control algorithm.
type CongestionControl string

// Congestion control algorithms the models know (the ones Linux offers here).
const (
	CCCubic CongestionControl = "cubic"
	CCBBR   CongestionControl = "bbr"
	CCReno  CongestionControl = "reno"
)

// Defaults and bounds of the queue configuration.
const (
	// DefaultQueueDiscipline applies to a link direction without a queue
	// configuration: it keeps the twin's max-min model.
	DefaultQueueDiscipline = QueueFQ
	// DefaultBufferPackets is a queue's (or class's) buffer when none is given: the
	// emulation's pfifo default.
	DefaultBufferPackets = 100
	// DefaultCongestionControl applies to a flow without one (Linux's default).
	DefaultCongestionControl = CCCubic
	// MaxBufferPackets and MaxBufferBytes bound a buffer; MinBufferBytes is one
	// 64-byte frame.
	MaxBufferPackets = 1 << 20
	MinBufferBytes   = 64
	MaxBufferBytes   = 1 << 34
	// MaxQueueClasses bounds the classes of one queue (802.1p has 8 traffic classes).
	MaxQueueClasses = 8
	// MaxClassWeight bounds a weighted class's weight.
	MaxClassWeight = 1e6
	// PacketBytes is the frame size used to convert a byte buffer to packets and back
	// (1500-byte MTU + 14 bytes of Ethernet header, what the emulation shapes).
	PacketBytes = 1514
)

// KnownQueueDisciplines and KnownCongestionControls list the accepted enum values.
var (
	KnownQueueDisciplines   = []QueueDiscipline{QueueFQ, QueueFIFO, QueuePriority, QueueWeighted}
	KnownCongestionControls = []CongestionControl{CCCubic, CCBBR, CCReno}
)

// Buffer is a buffer size in packets or in bytes (at most one set; neither means
// DefaultBufferPackets).
type Buffer struct {
	Packets int   `json:"buffer_packets,omitempty" yaml:"buffer_packets,omitempty"`
	Bytes   int64 `json:"buffer_bytes,omitempty" yaml:"buffer_bytes,omitempty"`
}

// EffectivePackets returns the buffer in packets of PacketBytes (bytes rounded down,
// at least 1), DefaultBufferPackets when unset.
func (b Buffer) EffectivePackets() int {
	switch {
	case b.Packets > 0:
		return b.Packets
	case b.Bytes > 0:
		return max(1, int(b.Bytes/PacketBytes))
	}
	return DefaultBufferPackets
}

// QueueClass is one class of a priority or weighted queue. Flows join the class whose
// Name equals their Class; flows of no listed class join the last class.
type QueueClass struct {
	Name string `json:"name" yaml:"name"`
	// Priority orders strict-priority classes (0 is served first); unique per queue.
	Priority int `json:"priority,omitempty" yaml:"priority,omitempty"`
	// Weight is a weighted class's share (> 0); unused by strict priority.
	Weight float64 `json:"weight,omitempty" yaml:"weight,omitempty"`
	Buffer `yaml:",inline"`
}

// QueueConfig is the egress queue of one link direction.
type QueueConfig struct {
	// Discipline defaults to DefaultQueueDiscipline.
	Discipline QueueDiscipline `json:"discipline,omitempty" yaml:"discipline,omitempty"`
	// Buffer of the FIFO (fifo) or the default per-class buffer (priority, weighted).
	// fq ignores it in the models (its per-flow queues do not drop at steady state).
	Buffer `yaml:",inline"`
	// Classes of a priority or weighted queue (1 to MaxQueueClasses; none otherwise).
	Classes []QueueClass `json:"classes,omitempty" yaml:"classes,omitempty"`
}

// EffectiveDiscipline returns the discipline, DefaultQueueDiscipline when unset.
func (q *QueueConfig) EffectiveDiscipline() QueueDiscipline {
	if q == nil || q.Discipline == "" {
		return DefaultQueueDiscipline
	}
	return q.Discipline
}

// ClassOf returns the index of the class a flow of class name joins: the class of that
// name, else the last class; -1 when the queue has no classes.
func (q *QueueConfig) ClassOf(name string) int {
	if q == nil || len(q.Classes) == 0 {
		return -1
	}
	for i, c := range q.Classes {
		if c.Name == name {
			return i
		}
	}
	return len(q.Classes) - 1
}

// QueueOf returns the queue configuration of one direction of the link: Queue for A→B,
// ReverseQueue (or Queue when ReverseQueue is nil) for B→A; nil when neither is set
// (DefaultQueueDiscipline).
func (l *Link) QueueOf(reverse bool) *QueueConfig {
	if reverse && l.ReverseQueue != nil {
		return l.ReverseQueue
	}
	return l.Queue
}

// EffectiveCC returns the flow's congestion control, DefaultCongestionControl when
// unset.
func (f *Flow) EffectiveCC() CongestionControl {
	if f.CongestionControl == "" {
		return DefaultCongestionControl
	}
	return f.CongestionControl
}

func validateBuffer(ve *ValidationError, at string, b Buffer) {
	if b.Packets != 0 && (b.Packets < 1 || b.Packets > MaxBufferPackets) {
		ve.add(at+".buffer_packets", fmt.Sprintf("must be 1 to %d when set, got %d", MaxBufferPackets, b.Packets))
	}
	if b.Bytes != 0 && (b.Bytes < MinBufferBytes || b.Bytes > MaxBufferBytes) {
		ve.add(at+".buffer_bytes", fmt.Sprintf("must be %d to %d when set, got %d", MinBufferBytes, int64(MaxBufferBytes), b.Bytes))
	}
	if b.Packets != 0 && b.Bytes != 0 {
		ve.add(at+".buffer_bytes", "set either buffer_packets or buffer_bytes, not both")
	}
}

// validateQueue checks one queue configuration (at is e.g. "links[l1].queue").
func validateQueue(ve *ValidationError, at string, q *QueueConfig) {
	if q == nil {
		return
	}
	d := q.Discipline
	if d != "" && !slices.Contains(KnownQueueDisciplines, d) {
		ve.add(at+".discipline", fmt.Sprintf("unknown queue discipline %q (known: %v)", d, KnownQueueDisciplines))
		return
	}
	validateBuffer(ve, at, q.Buffer)
	classed := d == QueuePriority || d == QueueWeighted
	switch {
	case !classed && len(q.Classes) > 0:
		ve.add(at+".classes", fmt.Sprintf("only priority and weighted queues have classes (discipline %q)", q.EffectiveDiscipline()))
		return
	case classed && len(q.Classes) == 0:
		ve.add(at+".classes", fmt.Sprintf("a %s queue needs 1 to %d classes", d, MaxQueueClasses))
		return
	case len(q.Classes) > MaxQueueClasses:
		ve.add(at+".classes", fmt.Sprintf("at most %d classes, got %d", MaxQueueClasses, len(q.Classes)))
		return
	}
	for i, c := range q.Classes {
		f := at + ".classes[" + strconv.Itoa(i) + "]"
		if msg := CheckID(c.Name); msg != "" {
			ve.add(f+".name", msg)
		} else if j := slices.IndexFunc(q.Classes[:i], func(o QueueClass) bool { return o.Name == c.Name }); j >= 0 {
			ve.add(f+".name", fmt.Sprintf("duplicate class %q (also classes[%d])", c.Name, j))
		}
		validateBuffer(ve, f, c.Buffer)
		switch d {
		case QueuePriority:
			if c.Priority < 0 || c.Priority >= MaxQueueClasses {
				ve.add(f+".priority", fmt.Sprintf("must be 0 to %d, got %d", MaxQueueClasses-1, c.Priority))
			} else if j := slices.IndexFunc(q.Classes[:i], func(o QueueClass) bool { return o.Priority == c.Priority }); j >= 0 {
				ve.add(f+".priority", fmt.Sprintf("duplicate priority %d (also classes[%d])", c.Priority, j))
			}
			if c.Weight != 0 {
				ve.add(f+".weight", "strict priority classes have no weight")
			}
		case QueueWeighted:
			if !(c.Weight > 0) || c.Weight > MaxClassWeight || math.IsInf(c.Weight, 0) {
				ve.add(f+".weight", fmt.Sprintf("must be a number in (0, %g], got %v", float64(MaxClassWeight), c.Weight))
			}
			if c.Priority != 0 {
				ve.add(f+".priority", "weighted classes have no priority")
			}
		}
	}
}

// validateLinkQueues checks both directions' queue configurations of a link.
func validateLinkQueues(ve *ValidationError, at string, l Link) {
	validateQueue(ve, at+".queue", l.Queue)
	validateQueue(ve, at+".reverse_queue", l.ReverseQueue)
}

// validateFlowCC checks a flow's congestion control.
func validateFlowCC(ve *ValidationError, at string, f Flow) {
	if f.CongestionControl != "" && !slices.Contains(KnownCongestionControls, f.CongestionControl) {
		ve.add(at+".cc", fmt.Sprintf("unknown congestion control %q (known: %v)", f.CongestionControl, KnownCongestionControls))
	}
}

// Clone deep-copies a queue configuration (nil stays nil).
func (q *QueueConfig) Clone() *QueueConfig {
	if q == nil {
		return nil
	}
	c := *q
	c.Classes = slices.Clone(q.Classes)
	return &c
}
