package policy_test

import (
	"testing"

	"github.com/twinflow/twinflow/models/policy"
)

// FuzzDecode: rule documents (REST bodies, CLI files) never panic; an accepted rule
// validates and its fields stay within bounds.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(ruleYAML))
	f.Add([]byte(`{"id":"cap","limits":[{"type":"max-link-utilisation","percent":70}]}`))
	f.Add([]byte(`{"id":"x","conditions":[{"type":"event","kind":"link-down"}],"actions":[{"type":"disable-interface","device":"r1","interface":"eth1"}]}`))
	f.Add([]byte("id: &a x\nstate: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := policy.Decode(data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded rule does not validate: %v", err)
		}
		if len(r.Conditions) > policy.MaxConditions || len(r.Actions) > policy.MaxActions || r.Priority > policy.MaxPriority {
			t.Fatalf("unbounded rule accepted: %+v", r)
		}
	})
}
