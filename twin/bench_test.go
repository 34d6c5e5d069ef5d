package twin_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

var (
	bigOnce sync.Once
	bigMgr  *twin.Manager
	bigErr  error
)

// bigTwin loads a fat-tree(k=32) (1,280 switches, 8,192 hosts, 24,576 links) and 100k
// flows into a live twin, once per test binary.
func bigTwin(b *testing.B) *twin.Manager {
	bigOnce.Do(func() {
		n, err := network.FatTree(32)
		if err != nil {
			bigErr = err
			return
		}
		n.Flows = fatTreeFlows(b, n, 32, 100_000)
		bigMgr, bigErr = twin.NewManager(twin.Options{})
		if bigErr != nil {
			return
		}
		_, bigErr = bigMgr.Live().Update(context.Background(), func(tx *twin.Txn) error {
			_, err := tx.Apply(n)
			return err
		})
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigMgr
}

var sinkDevice twin.Device

func BenchmarkFork(b *testing.B) {
	for _, size := range []string{"empty", "fat-tree-k32+100k-flows"} {
		b.Run(size, func(b *testing.B) {
			var m *twin.Manager
			if size == "empty" {
				m = newManager(b)
			} else {
				m = bigTwin(b)
			}
			ids := make([]string, 0, 1024)
			for b.Loop() {
				f, err := m.Fork(context.Background(), twin.LiveID)
				if err != nil {
					b.Fatal(err)
				}
				ids = append(ids, f.ID())
				if len(ids) == cap(ids) {
					b.StopTimer()
					for _, id := range ids {
						_ = m.Delete(context.Background(), id)
					}
					ids = ids[:0]
					b.StartTimer()
				}
			}
			b.StopTimer()
			for _, id := range ids {
				_ = m.Delete(context.Background(), id)
			}
		})
	}
}

func BenchmarkDeviceByID(b *testing.B) {
	m := bigTwin(b)
	live := m.Live()
	ids := []string{"core-0", "pod17-agg3", "h-31-15-15", "pod3-edge9"}
	i := 0
	for b.Loop() {
		d, err := live.Device(ids[i%len(ids)])
		if err != nil {
			b.Fatal(err)
		}
		sinkDevice = d
		i++
	}
}

// BenchmarkWriteTxn measures one transaction updating one link's capacity (with its
// referential checks) in a fork of a small twin (leaf-spine 2x2x1) and of the big one.
// On the big twin most of the time is garbage collection scanning the large heap.
func BenchmarkWriteTxn(b *testing.B) {
	for _, size := range []string{"leaf-spine", "fat-tree-k32+100k-flows"} {
		b.Run(size, func(b *testing.B) {
			var m *twin.Manager
			links := []string{"spine-0--leaf-0", "leaf-1--h-1-0"}
			if size == "leaf-spine" {
				m = newManager(b)
				load(b, m.Live(), leafSpine(b))
			} else {
				m = bigTwin(b)
				links = []string{"pod0-edge0--h-0-0-0", "core-0--pod0-agg0", "pod5-agg2--pod5-edge7"}
			}
			f, err := m.Fork(context.Background(), twin.LiveID)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = m.Delete(context.Background(), f.ID()) })
			i := 0
			for b.Loop() {
				id := links[i%len(links)]
				i++
				if _, err := f.Update(context.Background(), func(tx *twin.Txn) error {
					l, err := tx.Link(id)
					if err != nil {
						return err
					}
					l.CapacityGbps = float64(1 + i%100)
					_, err = tx.PutLink(l.Link, twin.UpdateOnly, l.Revision)
					return err
				}); err != nil {
					b.Fatal(fmt.Errorf("%s: %w", id, err))
				}
			}
		})
	}
}
