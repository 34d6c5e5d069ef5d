package nbi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

func fuzzDecode[T any](f *testing.F, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		w := httptest.NewRecorder()
		var v T
		err := DecodeJSON(w, r, 1<<16, &v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.Status != 400 && e.Status != 413 {
				t.Fatalf("status %d for %q", e.Status, body)
			}
			if e.Detail == "" {
				t.Fatalf("no detail for %q", body)
			}
			return
		}
		// Accepted input round-trips.
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var v2 T
		if err := DecodeJSON(nil, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(out)), 1<<20, &v2); err != nil {
			t.Fatalf("re-decode %s: %v", out, err)
		}
		if !reflect.DeepEqual(normalize(v), normalize(v2)) {
			t.Fatalf("round trip changed %+v to %+v", v, v2)
		}
	})
}

// normalize compares through JSON (nil vs empty slices).
func normalize(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func FuzzDecodeDevice(f *testing.F) {
	fuzzDecode[twin.Device](f, []string{
		`{"id":"r1","type":"packet-router","endpoints":[{"id":"eth1"}],"revision":2}`,
		`{"id":"x","type":5}`, `{"id":"x",`, `{"id":"x"} {}`, `{"colour":"red"}`, `[]`, ``, `null`,
		`{"id":"x","labels":{"a":"b"},"x":1e400}`,
	})
}

func FuzzDecodeLink(f *testing.F) {
	fuzzDecode[twin.Link](f, []string{
		`{"id":"l1","endpoints":[{"device":"a","endpoint":"e1"},{"device":"b","endpoint":"e1"}],"capacity_gbps":10}`,
		`{"id":"l1","capacity_gbps":"ten"}`, `{"endpoints":[{"device":1}]}`,
	})
}

func FuzzDecodeNetwork(f *testing.F) {
	fuzzDecode[network.Network](f, []string{
		`{"devices":[{"id":"a","type":"host"}],"links":[],"flows":[{"id":"f","src":"a","dst":"b","demand_gbps":1}]}`,
		`{"routers":[]}`, `{"links":[{"capacity_gbps":true}]}`, "{\"devices\":[{\"id\":\"\xff\"}]}",
	})
}

func FuzzDecodeCommitRequest(f *testing.F) {
	fuzzDecode[CommitRequest](f, []string{`{"confirm_timeout":"60s"}`, `{}`, `{"confirm_timeout":5}`, `{"confirm_timeout":"\u0000"}`})
}

func FuzzDecodeRollbackRequest(f *testing.F) {
	fuzzDecode[RollbackRequest](f, []string{`{"reason":"window closed"}`, `{"reason":"a\u0000b"}`, `{"reason":["x"]}`})
}

func FuzzDecodeAnalysisRequest(f *testing.F) {
	fuzzDecode[AnalysisRequest](f, []string{
		`{"graph":"pgg","routing":"ecmp","demands":[{"src":"a","dst":"b","gbps":1e308}]}`,
		`{"demands":[{"src":"a","dst":"b","gbps":-0}],"exclude_twin_flows":true}`, `{"demands":{}}`,
	})
}

func FuzzDecodeGradientRequest(f *testing.F) {
	fuzzDecode[GradientRequest](f, []string{`{"link":"l1"}`, `{"flow":"f1","demands":[{"src":"a","dst":"b"}]}`, `{"link":1}`})
}

// FuzzPathParam: an accepted path parameter is an ID every layer can store and log:
// at most MaxPathParamBytes of valid UTF-8 without control characters (seed 004 §11).
func FuzzPathParam(f *testing.F) {
	for _, s := range []string{"chg-0a1b2c", "a%00b", "%FF%FE", "a%2Fb", "", "%", "a%0Ab", "caf%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		why := badPathParam(raw)
		v, err := url.PathUnescape(raw)
		if why != "" {
			if strings.Contains(why, raw) && raw != "" {
				t.Fatalf("the refusal %q echoes the value", why)
			}
			return
		}
		if err != nil || v == "" || len(v) > MaxPathParamBytes || !utf8.ValidString(v) {
			t.Fatalf("accepted %q (decoded %q, %v)", raw, v, err)
		}
		for _, c := range v {
			if unicode.IsControl(c) {
				t.Fatalf("accepted %q with control character %U", raw, c)
			}
		}
	})
}

// FuzzDecodeWhatifRequest, FuzzDecodePushPolicyRequest, FuzzDecodeDatasetRequest: the
// bodies of the issue #18 routes (the documents inside them have their own fuzz
// targets: whatif.ParseScenario, change.DecodePushPolicy, dataset.ParseSpec).
func FuzzDecodeWhatifRequest(f *testing.F) {
	fuzzDecode[WhatifRequest](f, []string{`{"scenario":"sweeps: {n1: true}","twin":"live"}`, `{"snapshot":"a\u0000"}`, `{"scenario":1}`})
}

func FuzzDecodePushPolicyRequest(f *testing.F) {
	fuzzDecode[PushPolicyRequest](f, []string{`{"policy":{"stages":["a"],"device_groups":{"a":["r*"]}},"if_version":2}`,
		`{"policy":{"maintenance_windows":[{"start":"25:00"}]}}`, `{"policy":null}`})
}

func FuzzDecodeDatasetRequest(f *testing.F) {
	fuzzDecode[DatasetRequest](f, []string{`{"spec":"name: a\nsamples: 1\n"}`, `{"spec":["x"]}`, `{"spec":"\u0000"}`})
}

func FuzzDecodeLoginRequest(f *testing.F) {
	fuzzDecode[LoginRequest](f, []string{`{"user":"carla","password":"x"}`, `{"demo_user":"alice"}`, `{"user":1}`, `{"password":"\u0000"}`})
}
