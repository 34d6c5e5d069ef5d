package twin

import (
	"sync"
	"time"
)

// Op is what happened to an object.
type Op string

// Event operations. OpLagged is not about an object: it tells a subscriber that events
// were dropped because it read too slowly (resynchronise by listing).
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpRemove Op = "remove"
	OpLagged Op = "lagged"
)

// Event is one change to one object of one twin.
type Event struct {
	// Seq is the event's position in the Hub's stream (starts at 1, no gaps in what the
	// Hub published; a subscriber may miss some, then it gets an OpLagged event first).
	Seq  uint64 `json:"seq"`
	Twin string `json:"twin,omitempty"`
	// Table is the table of the object (TableTwins for forks created and twins deleted).
	Table Table  `json:"table,omitempty"`
	Op    Op     `json:"op"`
	ID    string `json:"id,omitempty"`
	// Revision is the twin's revision after the change (for observed-state changes, the
	// unchanged intended revision).
	Revision uint64 `json:"revision,omitempty"`
	// Object is the object after the change (create, update) or before it (remove): one
	// of *Device, *Link, *Context, *Topology, *Flow, *Record, *DeviceConfig,
	// *ObservedInterface, *ObservedDevice, *ObservedLink or, for TableTwins, Info. It is
	// the stored object itself: read-only.
	Object any       `json:"object,omitempty"`
	Time   time.Time `json:"time"`
}

// HubOptions configures a Hub. Zero values choose the defaults.
type HubOptions struct {
	// History is how many recent events are kept for resuming (default 4096).
	History int
	// Buffer is each subscriber's queue length (default 256).
	Buffer int
}

// Hub fans events out to subscribers. Publishing never blocks: a subscriber whose queue
// is full misses events and receives one OpLagged event instead. The last History
// events are kept so a subscriber can resume after a sequence number.
type Hub struct {
	mu     sync.Mutex // guards the following
	seq    uint64
	ring   []Event // circular, len == cap once full
	head   int     // index of the oldest event when the ring is full
	subs   map[*Subscription]struct{}
	closed bool

	history, buffer int
}

// NewHub returns an empty Hub.
func NewHub(o HubOptions) *Hub {
	if o.History <= 0 {
		o.History = 4096
	}
	if o.Buffer <= 0 {
		o.Buffer = 256
	}
	return &Hub{subs: map[*Subscription]struct{}{}, history: o.History, buffer: o.Buffer,
		ring: make([]Event, 0, o.History)}
}

// Subscription receives events. Read them from C until it is closed (by Close or when
// the Hub closes).
type Subscription struct {
	// C delivers the events in Seq order.
	C <-chan Event

	c      chan Event
	hub    *Hub
	twin   string
	lagged bool
	closed bool
}

// Publish assigns sequence numbers to evs and delivers them. It never blocks.
func (h *Hub) Publish(evs []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for i := range evs {
		h.seq++
		evs[i].Seq = h.seq
		h.remember(evs[i])
		for s := range h.subs {
			h.deliver(s, evs[i])
		}
	}
}

func (h *Hub) remember(ev Event) {
	if len(h.ring) < h.history {
		h.ring = append(h.ring, ev)
		return
	}
	h.ring[h.head] = ev
	h.head = (h.head + 1) % h.history
}

// deliver sends ev to s without blocking; h.mu is held. The channel has one slot more
// than the buffer, reserved for the lagged marker.
func (h *Hub) deliver(s *Subscription, ev Event) {
	if s.twin != "" && ev.Twin != s.twin {
		return
	}
	if len(s.c) >= h.buffer {
		if !s.lagged {
			s.lagged = true
			select {
			case s.c <- Event{Seq: ev.Seq, Op: OpLagged, Twin: s.twin, Time: ev.Time}:
			default:
			}
		}
		return
	}
	s.lagged = false
	select {
	case s.c <- ev:
	default:
	}
}

// Subscribe returns a subscription to the events of one twin ("" for all twins). If
// after is not zero, the kept events with Seq > after are delivered first; if some of
// them are no longer kept, an OpLagged event comes first.
func (h *Hub) Subscribe(twin string, after uint64) *Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	var replay []Event
	lagged := false
	if after > h.seq {
		// A sequence number this hub never issued (e.g. from before a restart): the
		// client cannot know what it missed.
		lagged = true
		replay = h.filtered(twin, 0)
	} else if after > 0 && after < h.seq {
		ordered := h.ordered()
		if len(ordered) == 0 || ordered[0].Seq > after+1 {
			lagged = true
		}
		replay = h.filtered(twin, after)
	}
	c := make(chan Event, h.buffer+1+len(replay)+1)
	s := &Subscription{C: c, c: c, hub: h, twin: twin}
	if lagged {
		c <- Event{Seq: after + 1, Op: OpLagged, Twin: twin}
	}
	for _, ev := range replay {
		c <- ev
	}
	if h.closed {
		s.closed = true
		close(c)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// Seq returns the sequence number of the last published event.
func (h *Hub) Seq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}

func (h *Hub) filtered(twin string, after uint64) []Event {
	var out []Event
	for _, ev := range h.ordered() {
		if ev.Seq > after && (twin == "" || ev.Twin == twin) {
			out = append(out, ev)
		}
	}
	return out
}

func (h *Hub) ordered() []Event {
	if len(h.ring) < h.history {
		return h.ring
	}
	out := make([]Event, 0, len(h.ring))
	out = append(out, h.ring[h.head:]...)
	return append(out, h.ring[:h.head]...)
}

// Close ends the subscription and closes C. Safe to call more than once.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(h.subs, s)
	close(s.c)
}

// Close closes every subscription; later publications are dropped.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.subs {
		s.closed = true
		close(s.c)
	}
	h.subs = map[*Subscription]struct{}{}
}

// Subscribers returns the number of open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
