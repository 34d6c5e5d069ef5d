package twin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LiveID is the ID of the live twin.
const LiveID = "live"

// Options configures a Manager. The zero value is usable.
type Options struct {
	// Logger receives the manager's logs (nil: discarded).
	Logger *slog.Logger
	// Now is the clock used for event and creation times (nil: time.Now).
	Now func() time.Time
	// Hub receives every event (nil: a new Hub with default options).
	Hub *Hub
	// Journal, if set, receives every intended-state transaction of the live twin before
	// it becomes visible; an error aborts the transaction (see persist.go).
	Journal JournalFunc
}

// Manager owns the live twin and the forks, by ID. Safe for concurrent use.
type Manager struct {
	log *slog.Logger
	now func() time.Time
	hub *Hub

	mu       sync.RWMutex // guards the following
	twins    map[string]*Twin
	nextFork uint64
	forkedN  uint64 // forks created, ever
	closed   bool

	forked func(id string) // test hook: called once Fork has released mu
}

// NewManager returns a manager holding an empty live twin.
func NewManager(o Options) (*Manager, error) {
	m := &Manager{log: o.Logger, now: o.Now, hub: o.Hub, twins: map[string]*Twin{}}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.hub == nil {
		m.hub = NewHub(HubOptions{})
	}
	live, err := newTwin(LiveID, m.now, m.hub.Publish)
	if err != nil {
		return nil, err
	}
	live.journal = o.Journal
	m.twins[LiveID] = live
	return m, nil
}

// Events returns the hub every twin of this manager publishes to.
func (m *Manager) Events() *Hub { return m.hub }

// Live returns the live twin.
func (m *Manager) Live() *Twin {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.twins[LiveID]
}

// Get returns the twin with the given ID.
func (m *Manager) Get(id string) (*Twin, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.twins[id]
	if !ok {
		return nil, &ObjectError{Table: TableTwins, ID: id, Msg: "no such twin", Kind: ErrNotFound}
	}
	return t, nil
}

// Fork creates a copy-on-write fork of the twin parent, in O(1) whatever the twin's
// size, and returns it. Its ID is "fork-<n>".
func (m *Manager) Fork(ctx context.Context, parent string) (*Twin, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("twin: fork: %w", err)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	p, ok := m.twins[parent]
	if !ok {
		m.mu.Unlock()
		return nil, &ObjectError{Table: TableTwins, ID: parent, Msg: "no such twin", Kind: ErrNotFound}
	}
	m.nextFork++
	m.forkedN++
	id := "fork-" + strconv.FormatUint(m.nextFork, 10)
	f := p.fork(id, m.now(), m.hub.Publish)
	m.twins[id] = f
	// Published before the fork is visible to anyone (listed, written, deleted), so
	// every event about the fork follows this one.
	info := f.Info()
	m.hub.Publish([]Event{{Twin: id, Table: TableTwins, Op: OpCreate, ID: id,
		Revision: info.Revision, Object: info, Time: info.CreatedAt}})
	m.mu.Unlock()
	if m.forked != nil {
		m.forked(id)
	}
	m.log.Debug("twin forked", "twin", id, "parent", parent, "parent_revision", info.ParentRevision)
	return f, nil
}

// Delete removes a fork. The live twin cannot be deleted (ErrLiveTwin). Forks of the
// deleted twin stay: they are independent. Writes to the deleted twin by holders of it
// fail with ErrNotFound.
func (m *Manager) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("twin: delete: %w", err)
	}
	if id == LiveID {
		return ErrLiveTwin
	}
	m.mu.Lock()
	t, ok := m.twins[id]
	if !ok {
		m.mu.Unlock()
		return &ObjectError{Table: TableTwins, ID: id, Msg: "no such twin", Kind: ErrNotFound}
	}
	delete(m.twins, id)
	m.mu.Unlock()
	// A write that found the twin before it was removed may still be running: the
	// remove event follows it, and later writes fail.
	t.retire(func() {
		info := t.Info()
		m.hub.Publish([]Event{{Twin: id, Table: TableTwins, Op: OpRemove, ID: id,
			Revision: info.Revision, Object: info, Time: m.now()}})
	})
	m.log.Debug("twin deleted", "twin", id)
	return nil
}

// List describes every twin: the live twin first, then forks in creation order.
func (m *Manager) List() []Info {
	m.mu.RLock()
	out := make([]Info, 0, len(m.twins))
	for _, t := range m.twins {
		out = append(out, t.Info())
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Info) int { return compareTwinIDs(a.ID, b.ID) })
	return out
}

// compareTwinIDs orders "live" first, then "fork-<n>" by n.
func compareTwinIDs(a, b string) int {
	if a == b {
		return 0
	}
	if a == LiveID {
		return -1
	}
	if b == LiveID {
		return 1
	}
	na, ea := strconv.ParseUint(strings.TrimPrefix(a, "fork-"), 10, 64)
	nb, eb := strconv.ParseUint(strings.TrimPrefix(b, "fork-"), 10, 64)
	if ea == nil && eb == nil {
		switch {
		case na < nb:
			return -1
		case na > nb:
			return 1
		}
	}
	return strings.Compare(a, b)
}

// Counts returns the number of twins (live included) and the number of forks ever
// created.
func (m *Manager) Counts() (twins int, forksCreated uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.twins), m.forkedN
}

// Close closes the event hub (ending every subscription); later forks fail.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.hub.Close()
}
