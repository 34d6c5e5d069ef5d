package twin

import (
	"context"
	"testing"
)

// TestForkEventBeforeItsRemoval: the fork's create event precedes every event about the
// fork, even when another goroutine deletes the fork the moment it can see it (it is
// listed as soon as Fork releases the manager). The create event used to be published
// after that point, so a subscriber could get the fork's remove event first and think
// the fork still existed.
func TestForkEventBeforeItsRemoval(t *testing.T) {
	ctx := context.Background()
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sub := m.Events().Subscribe("", 0)
	defer sub.Close()
	deleted := false
	m.forked = func(id string) {
		// Fork has released the manager: the fork is visible, e.g. in List
		for _, in := range m.List() {
			if in.ID == id {
				deleted = m.Delete(ctx, id) == nil
			}
		}
	}
	f, err := m.Fork(ctx, LiveID)
	if err != nil {
		t.Fatal(err)
	}
	if !deleted {
		t.Fatalf("%s was not listed, or not deleted, once Fork released the manager", f.ID())
	}
	var ops []Op
	for len(ops) < 2 {
		ev := <-sub.C
		if ev.Twin == f.ID() && ev.Table == TableTwins {
			ops = append(ops, ev.Op)
		}
	}
	if ops[0] != OpCreate || ops[1] != OpRemove {
		t.Fatalf("events about %s: %v; want [create remove]", f.ID(), ops)
	}
}
