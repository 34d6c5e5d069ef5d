package service

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/twinflow/twinflow/models/change"
)

// Composer collects the configuration a service puts on each device: objects it owns
// (created by an update of their path, deleted with their path) and settings it only
// needs (an access port enabled: set on creation, left alone on deletion). Emit turns
// the composition into per-device operations, for creation or for deletion: the two are
// never written separately.
type Composer struct {
	devices map[string][]object
}

type object struct {
	path  string
	value json.RawMessage
	// del is the path deleted on removal ("" = not owned: left in place).
	del string
}

// NewComposer returns an empty composition.
func NewComposer() *Composer { return &Composer{devices: map[string][]object{}} }

// Own records an object the service owns at path with value (deleted at path on
// removal).
func (c *Composer) Own(device, path string, value any) error {
	return c.add(device, path, value, path)
}

// OwnAt records an object set at path whose removal deletes delPath (an address entry
// added through its subinterface, say).
func (c *Composer) OwnAt(device, path string, value any, delPath string) error {
	return c.add(device, path, value, delPath)
}

// Need records a setting the service needs but does not own.
func (c *Composer) Need(device, path string, value any) error {
	return c.add(device, path, value, "")
}

func (c *Composer) add(device, path string, value any, del string) error {
	var b []byte
	var err error
	if t, ok := value.(change.Tree); ok {
		b, err = change.MarshalTree(t) // json.Marshal's bytes, without reflection
	} else {
		b, err = json.Marshal(value)
	}
	if err != nil {
		return fmt.Errorf("service: compose %s %s: %w", device, path, err)
	}
	c.devices[device] = append(c.devices[device], object{path: path, value: b, del: del})
	return nil
}

// Devices returns the devices the composition touches, sorted.
func (c *Composer) Devices() []string {
	out := make([]string, 0, len(c.devices))
	for d := range c.devices {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Emit returns the per-device operations that create the composition (updates in
// composition order) or delete it (deletes of the owned objects in reverse order).
func (c *Composer) Emit(remove bool) map[string][]change.Op {
	out := map[string][]change.Op{}
	for d, objs := range c.devices {
		var ops []change.Op
		if !remove {
			for _, o := range objs {
				ops = append(ops, change.Op{Op: change.OpUpdate, Path: o.path, Value: o.value})
			}
		} else {
			for i := len(objs) - 1; i >= 0; i-- {
				if objs[i].del != "" {
					ops = append(ops, change.Op{Op: change.OpDelete, Path: objs[i].del})
				}
			}
		}
		if len(ops) > 0 {
			out[d] = ops
		}
	}
	return out
}
