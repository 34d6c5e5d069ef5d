package change_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
)

const policyYAML = `
device_groups:
  canary: [r1]
  core: ["core-*", r2]
require_certification:
  kinds: [raw-config]
  device_groups: [core]
maintenance_windows:
  - {days: [sat, sun], start: "22:00", end: "04:00"}
  - {start: "12:00", end: "13:00"}
outside_window: wait
stages: [canary, core]
`

// TestPushPolicyDecode (issue #18 item 4): a policy decodes from YAML and JSON, and
// every malformed policy is refused with an error naming the offending element.
func TestPushPolicyDecode(t *testing.T) {
	p, err := change.DecodePushPolicy([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.DeviceGroups) != 2 || p.OutsideWindow != change.OutsideWait || len(p.Stages) != 2 || len(p.MaintenanceWindows) != 2 {
		t.Fatalf("decoded %+v", p)
	}
	if _, err := change.DecodePushPolicy([]byte(`{"stages":[],"require_certification":{"all":true}}`)); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	bad := map[string]string{
		`{}`:                                          "", // the empty policy is valid
		`{"nope":1}`:                                  "unknown field",
		`stages: [x]`:                                 `stages[0]: no device group "x"`,
		`device_groups: {"a b": [r1]}`:                "may hold only",
		`device_groups: {a: []}`:                      "device_groups[a]: must list",
		`device_groups: {a: ["[x"]}`:                  "bad pattern",
		`require_certification: {}`:                   "set all, kinds or device_groups",
		`require_certification: {kinds: [x]}`:         `unknown kind "x"`,
		`require_certification: {device_groups: [g]}`: `no device group "g"`,
		`maintenance_windows: [{start: "25:00", end: "01:00"}]`:                 "maintenance_windows[0].start",
		`maintenance_windows: [{start: "1:00", end: "01:00"}]`:                  "HH:MM",
		`maintenance_windows: [{start: "01:00", end: "01:00"}]`:                 "empty or ambiguous",
		`maintenance_windows: [{days: [monday], start: "01:00", end: "02:00"}]`: "days[0]",
		`outside_window: later`: "outside_window",
		`device_groups: {a: [r1]}
stages: [a, a]`: "already a stage",
		``:         "empty",
		`{} {}`:    "trailing data",
		`- a`:      "push policy",
		"\x00\x01": "push policy",
	}
	for doc, want := range bad {
		_, err := change.DecodePushPolicy([]byte(doc))
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", doc, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, change.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v; want ErrInvalid mentioning %q", doc, err, want)
		}
	}
	if _, err := change.DecodePushPolicy(make([]byte, 2<<20)); err == nil {
		t.Error("an oversized policy was accepted")
	}
}

func TestPushPolicyCertificationRule(t *testing.T) {
	p, err := change.DecodePushPolicy([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	raw := &change.ChangeSet{Kind: change.KindRawConfig, DeviceOps: map[string][]change.Op{"r9": nil}}
	if need, why := p.NeedsCertification(raw); !need || !strings.Contains(why, "raw-config") {
		t.Errorf("raw-config: %v %q", need, why)
	}
	intent := &change.ChangeSet{Kind: change.KindIntent, DeviceOps: map[string][]change.Op{"r9": nil}}
	if need, _ := p.NeedsCertification(intent); need {
		t.Error("an intent change on an ungrouped device needs a certification")
	}
	intent.DeviceOps["core-7"] = nil
	if need, why := p.NeedsCertification(intent); !need || !strings.Contains(why, "core") || !strings.Contains(why, "core-7") {
		t.Errorf("intent on core-7: %v %q", need, why)
	}
	if need, _ := (&change.PushPolicy{}).NeedsCertification(raw); need {
		t.Error("the empty policy gates a change")
	}
}

func TestPushPolicyWindows(t *testing.T) {
	p, err := change.DecodePushPolicy([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	// 2026-12-05 is a Saturday
	for _, c := range []struct {
		now  string
		in   bool
		next string
	}{
		{"2026-12-05T23:00:00Z", true, ""},                           // Saturday night window
		{"2026-12-06T03:59:00Z", true, ""},                           // ... wraps past midnight
		{"2026-12-07T03:00:00Z", true, ""},                           // Sunday's window runs into Monday
		{"2026-12-07T04:00:00Z", false, "2026-12-07T12:00:00Z"},      // closed; daily noon window next
		{"2026-12-07T12:30:00+01:00", false, "2026-12-07T12:00:00Z"}, // 11:30 UTC: noon is next
		{"2026-12-08T12:59:59Z", true, ""},
		{"2026-12-08T13:00:00Z", false, "2026-12-09T12:00:00Z"},
	} {
		in, next := p.InWindow(at(c.now))
		var n string
		if !next.IsZero() {
			n = next.Format(time.RFC3339)
		}
		if in != c.in || n != c.next {
			t.Errorf("%s: in %v next %q; want %v %q", c.now, in, n, c.in, c.next)
		}
	}
	if in, _ := (&change.PushPolicy{}).InWindow(time.Now()); !in {
		t.Error("no windows must mean always open")
	}
	whole := &change.PushPolicy{MaintenanceWindows: []change.Window{{Start: "00:00", End: "00:00"}}}
	if err := whole.Validate(); err != nil {
		t.Fatal(err)
	}
	if in, _ := whole.InWindow(at("2026-12-08T17:00:00Z")); !in {
		t.Error("00:00-00:00 is the whole day")
	}
}

func TestPushPolicyStages(t *testing.T) {
	p, err := change.DecodePushPolicy([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	got := p.StagesFor([]string{"r3", "core-1", "r2", "r1"})
	var s []string
	for _, st := range got {
		s = append(s, st.Group+"="+strings.Join(st.Devices, ","))
	}
	if want := "canary=r1 core=core-1,r2 rest=r3"; strings.Join(s, " ") != want {
		t.Errorf("stages %v; want %s", s, want)
	}
	if got := p.StagesFor([]string{"r3"}); len(got) != 1 || got[0].Group != "rest" {
		t.Errorf("ungrouped only: %+v", got)
	}
	if got := (&change.PushPolicy{}).StagesFor([]string{"b", "a"}); len(got) != 1 || got[0].Group != "all" || got[0].Devices[0] != "a" {
		t.Errorf("no stages: %+v", got)
	}
}

func TestContentHashIgnoresIdentity(t *testing.T) {
	a := &change.ChangeSet{ID: "x", Author: "bo", Label: "l", Kind: change.KindRawConfig, DeviceOps: map[string][]change.Op{"r1": {{Op: change.OpDelete, Path: "/a"}}}}
	b := *a
	b.ID, b.Author, b.Label, b.Level = "y", "carla", "m", change.L1
	ha, _ := change.ContentHash(a)
	hb, _ := change.ContentHash(&b)
	if ha != hb || len(ha) != 64 {
		t.Errorf("hashes %s %s", ha, hb)
	}
	b.Level = change.L2
	if hc, _ := change.ContentHash(&b); hc == ha {
		t.Error("the level is part of the content")
	}
}

func FuzzDecodePushPolicy(f *testing.F) {
	f.Add([]byte(policyYAML))
	f.Add([]byte(`{"device_groups":{"a":["r*"]},"stages":["a"],"maintenance_windows":[{"start":"22:00","end":"02:00"}]}`))
	f.Add([]byte(`maintenance_windows: [{days: [mon], start: "24:00", end: "00:00"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := change.DecodePushPolicy(data)
		if err != nil {
			if !errors.Is(err, change.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("decoded policy does not validate: %v", err)
		}
		now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		if in, next := p.InWindow(now); !in && !next.After(now) {
			t.Fatalf("closed at %s but next window %s is not later", now, next)
		}
		devs := []string{"r1", "core-1", "x"}
		n := 0
		for _, st := range p.StagesFor(devs) {
			n += len(st.Devices)
		}
		if n != len(devs) {
			t.Fatalf("stages place %d of %d devices", n, len(devs))
		}
	})
}
