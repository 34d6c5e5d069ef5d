package network

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// queuedNet is smallNet with a queue configuration on both links and flows with a
// congestion control and a class.
func queuedNet() *Network {
	n := smallNet()
	n.Links[0].Queue = &QueueConfig{Discipline: QueueFIFO, Buffer: Buffer{Packets: 50}}
	n.Links[0].ReverseQueue = &QueueConfig{Discipline: QueueFQ}
	n.Links[1].Queue = &QueueConfig{Discipline: QueuePriority, Buffer: Buffer{Bytes: 150000}, Classes: []QueueClass{
		{Name: "voice", Priority: 0, Buffer: Buffer{Packets: 20}},
		{Name: "best-effort", Priority: 1},
	}}
	n.Links[1].ReverseQueue = &QueueConfig{Discipline: QueueWeighted, Classes: []QueueClass{
		{Name: "gold", Weight: 3}, {Name: "silver", Weight: 1, Buffer: Buffer{Bytes: 30280}},
	}}
	n.Flows[0].CongestionControl = CCBBR
	n.Flows[0].Class = "voice"
	return n
}

// Fuzz seeds: the queued network in JSON and YAML.
const queuedJSON = `{"devices":[{"id":"a","type":"host","endpoints":[{"id":"e"}]},{"id":"b","type":"host","endpoints":[{"id":"e"}]}],
"links":[{"id":"l","endpoints":[{"device":"a","endpoint":"e"},{"device":"b","endpoint":"e"}],"capacity_gbps":1,
"queue":{"discipline":"weighted","buffer_packets":20,"classes":[{"name":"x","weight":2},{"name":"y","weight":1,"buffer_bytes":3000}]},
"reverse_queue":{"discipline":"fifo","buffer_bytes":75000}}],
"flows":[{"id":"f","src":"a","dst":"b","cc":"reno","class":"x"}]}`

const queuedYAML = "links:\n  - id: l\n    endpoints: [{device: a, endpoint: e}, {device: b, endpoint: e}]\n    capacity_gbps: 1\n    queue: {discipline: priority, buffer_packets: 30, classes: [{name: hi, priority: 0}, {name: lo, priority: 1, buffer_packets: 200}]}\n" +
	"devices: [{id: a, type: host, endpoints: [{id: e}]}, {id: b, type: host, endpoints: [{id: e}]}]\nflows: [{id: f, src: a, dst: b, cc: bbr}]\n"

func TestQueueConfigValid(t *testing.T) {
	if err := queuedNet().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{queuedJSON, queuedYAML} {
		if _, err := Decode(strings.NewReader(s), DetectFormat("", []byte(s))); err != nil {
			t.Errorf("seed does not decode: %v", err)
		}
	}
}

func TestQueueConfigRoundTrip(t *testing.T) {
	n := queuedNet()
	for _, f := range []Format{FormatJSON, FormatYAML} {
		got := roundTrip(t, n, f)
		if diff := cmp.Diff(n, got, equateEmpty); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", f, diff)
		}
	}
	var buf bytes.Buffer
	if err := Encode(&buf, n, FormatYAML); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"discipline: fifo", "buffer_packets: 50", "buffer_bytes: 150000", "reverse_queue:", "priority: 1", "weight: 3", "cc: bbr"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("YAML lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := Encode(&buf, n, FormatJSON); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"discipline":"fifo"`, `"buffer_packets":50`, `"cc":"bbr"`} {
		if !strings.Contains(strings.ReplaceAll(buf.String(), " ", ""), want) {
			t.Errorf("JSON lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestQueueConfigCloneIsDeep(t *testing.T) {
	n := queuedNet()
	c := n.Clone()
	c.Links[1].Queue.Classes[0].Name = "changed"
	c.Links[0].Queue.Packets = 7
	if n.Links[1].Queue.Classes[0].Name != "voice" || n.Links[0].Queue.Packets != 50 {
		t.Error("Clone shares queue configurations with the original")
	}
}

func TestQueueDefaults(t *testing.T) {
	n := smallNet()
	l := n.Links[0]
	if q := l.QueueOf(false); q != nil || q.EffectiveDiscipline() != QueueFQ {
		t.Errorf("unset queue: %+v, discipline %q; want nil and fq", q, q.EffectiveDiscipline())
	}
	if cc := n.Flows[0].EffectiveCC(); cc != CCCubic {
		t.Errorf("default cc = %q, want cubic", cc)
	}
	if p := (Buffer{}).EffectivePackets(); p != DefaultBufferPackets {
		t.Errorf("default buffer = %d packets, want %d", p, DefaultBufferPackets)
	}
	if p := (Buffer{Bytes: 3 * PacketBytes}).EffectivePackets(); p != 3 {
		t.Errorf("3 frames of bytes = %d packets, want 3", p)
	}
	if p := (Buffer{Bytes: 100}).EffectivePackets(); p != 1 {
		t.Errorf("100 bytes = %d packets, want 1", p)
	}
	q := queuedNet()
	if d := q.Links[0].QueueOf(true).EffectiveDiscipline(); d != QueueFQ {
		t.Errorf("reverse of l1 = %q, want fq (reverse_queue)", d)
	}
	if d := q.Links[1].QueueOf(false).EffectiveDiscipline(); d != QueuePriority {
		t.Errorf("l2 = %q, want priority", d)
	}
	only := &Link{Queue: &QueueConfig{Discipline: QueueFIFO}}
	if d := only.QueueOf(true).EffectiveDiscipline(); d != QueueFIFO {
		t.Errorf("reverse without reverse_queue = %q, want the forward queue's fifo", d)
	}
	pq := q.Links[1].Queue
	if i := pq.ClassOf("voice"); i != 0 {
		t.Errorf("ClassOf(voice) = %d, want 0", i)
	}
	if i := pq.ClassOf("unknown"); i != 1 {
		t.Errorf("ClassOf(unknown) = %d, want the last class 1", i)
	}
	if i := q.Links[0].Queue.ClassOf("voice"); i != -1 {
		t.Errorf("ClassOf on a fifo = %d, want -1", i)
	}
}

func TestQueueConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(n *Network)
		field  string
		msg    string
	}{
		{"discipline", func(n *Network) { n.Links[0].Queue.Discipline = "red" }, "links[l1].queue.discipline", `unknown queue discipline "red"`},
		{"packets-negative", func(n *Network) { n.Links[0].Queue.Packets = -1 }, "links[l1].queue.buffer_packets", "must be 1 to 1048576 when set, got -1"},
		{"packets-huge", func(n *Network) { n.Links[0].Queue.Packets = MaxBufferPackets + 1 }, "links[l1].queue.buffer_packets", "got 1048577"},
		{"bytes-small", func(n *Network) { n.Links[0].Queue.Packets = 0; n.Links[0].Queue.Bytes = 10 }, "links[l1].queue.buffer_bytes", "must be 64 to 17179869184 when set, got 10"},
		{"both", func(n *Network) { n.Links[0].Queue.Bytes = 3000 }, "links[l1].queue.buffer_bytes", "either buffer_packets or buffer_bytes"},
		{"reverse", func(n *Network) { n.Links[0].ReverseQueue.Discipline = "sfq" }, "links[l1].reverse_queue.discipline", `unknown queue discipline "sfq"`},
		{"fifo-classes", func(n *Network) { n.Links[0].Queue.Classes = []QueueClass{{Name: "a"}} }, "links[l1].queue.classes", `only priority and weighted queues have classes (discipline "fifo")`},
		{"fq-default-classes", func(n *Network) { n.Links[0].ReverseQueue = &QueueConfig{Classes: []QueueClass{{Name: "a"}}} }, "links[l1].reverse_queue.classes", `(discipline "fq")`},
		{"priority-no-classes", func(n *Network) { n.Links[1].Queue.Classes = nil }, "links[l2].queue.classes", "a priority queue needs 1 to 8 classes"},
		{"too-many-classes", func(n *Network) {
			for i := 0; i < 8; i++ {
				n.Links[1].ReverseQueue.Classes = append(n.Links[1].ReverseQueue.Classes, QueueClass{Name: "c" + string(rune('a'+i)), Weight: 1})
			}
		}, "links[l2].reverse_queue.classes", "at most 8 classes, got 10"},
		{"class-name", func(n *Network) { n.Links[1].Queue.Classes[1].Name = "bad name" }, "links[l2].queue.classes[1].name", "invalid character"},
		{"class-dup", func(n *Network) { n.Links[1].Queue.Classes[1].Name = "voice" }, "links[l2].queue.classes[1].name", `duplicate class "voice" (also classes[0])`},
		{"priority-dup", func(n *Network) { n.Links[1].Queue.Classes[1].Priority = 0 }, "links[l2].queue.classes[1].priority", "duplicate priority 0 (also classes[0])"},
		{"priority-range", func(n *Network) { n.Links[1].Queue.Classes[1].Priority = 8 }, "links[l2].queue.classes[1].priority", "must be 0 to 7, got 8"},
		{"priority-weight", func(n *Network) { n.Links[1].Queue.Classes[0].Weight = 2 }, "links[l2].queue.classes[0].weight", "strict priority classes have no weight"},
		{"class-buffer", func(n *Network) { n.Links[1].Queue.Classes[0].Packets = 0 - 5 }, "links[l2].queue.classes[0].buffer_packets", "got -5"},
		{"weight-zero", func(n *Network) { n.Links[1].ReverseQueue.Classes[1].Weight = 0 }, "links[l2].reverse_queue.classes[1].weight", "must be a number in (0, 1e+06], got 0"},
		{"weight-huge", func(n *Network) { n.Links[1].ReverseQueue.Classes[1].Weight = 2e6 }, "links[l2].reverse_queue.classes[1].weight", "got 2e+06"},
		{"weighted-priority", func(n *Network) { n.Links[1].ReverseQueue.Classes[1].Priority = 1 }, "links[l2].reverse_queue.classes[1].priority", "weighted classes have no priority"},
		{"cc", func(n *Network) { n.Flows[0].CongestionControl = "vegas" }, "flows[f1].cc", `unknown congestion control "vegas" (known: [cubic bbr reno])`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := queuedNet()
			tc.mutate(n)
			err := n.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v; want an ErrInvalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not *ValidationError", err)
			}
			for _, fe := range ve.Errors {
				if fe.Field == tc.field && strings.Contains(fe.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("no error on field %q containing %q; got %v", tc.field, tc.msg, err)
		})
	}
}

func TestQueueConfigDecodeRejects(t *testing.T) {
	for _, doc := range []string{
		strings.Replace(queuedJSON, `"discipline":"weighted"`, `"discipline":"netem"`, 1),
		strings.Replace(queuedJSON, `"buffer_packets":20`, `"buffer_packets":"20"`, 1),
		strings.Replace(queuedJSON, `"cc":"reno"`, `"cc":"vegas"`, 1),
		strings.Replace(queuedJSON, `"weight":2`, `"weight":2,"quantum":3`, 1),
	} {
		if _, err := Decode(strings.NewReader(doc), FormatJSON); err == nil {
			t.Errorf("accepted %s", doc)
		}
	}
}
