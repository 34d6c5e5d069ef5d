package routing

import "testing"

// TestReservationsClone: a clone holds the same reservations and is independent.
func TestReservationsClone(t *testing.T) {
	r := NewReservations()
	if err := r.Reserve("a", []string{"l1", "l2"}, 2, 0); err != nil {
		t.Fatal(err)
	}
	c := r.Clone()
	if c.Held("l1", 0) != 2 || len(c.Owners()) != 1 {
		t.Fatalf("clone holds %v %v", c.Held("l1", 0), c.Owners())
	}
	c.Release("a")
	if err := c.Reserve("b", []string{"l1"}, 1, 3); err != nil {
		t.Fatal(err)
	}
	if r.Held("l1", 0) != 2 || r.Held("l1", 3) != 2 || len(r.Owners()) != 1 || c.Held("l1", 0) != 0 || c.Held("l1", 3) != 1 {
		t.Fatalf("not independent: orig %v/%v clone %v/%v", r.Held("l1", 0), r.Held("l1", 3), c.Held("l1", 0), c.Held("l1", 3))
	}
}
