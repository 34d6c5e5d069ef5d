package monitor

import (
	"encoding/json"
	"testing"
)

// FuzzParseDescriptor: any input is either refused with ErrInvalid or gives a
// descriptor that validates and round-trips.
func FuzzParseDescriptor(f *testing.F) {
	f.Add([]byte(`{"id":"k1","kind":"link","subject":"L1","metric":"utilisation","sample_interval_s":1,"threshold":{"direction":"above","raise":0.9,"clear":0.8}}`))
	f.Add([]byte(`{"id":"k2","kind":"endpoint","subject":"r1","endpoint":"eth1","metric":"in_rate_gbps","sample_interval_s":0.1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDescriptor(data)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("parsed descriptor does not validate: %v", err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseDescriptor(b); err != nil {
			t.Fatalf("round trip: %v\n%s", err, b)
		}
	})
}
