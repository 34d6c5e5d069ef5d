package alto

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzTargets are the POST resources whose request decoders FuzzRequests drives (the
// update stream is left out: a valid request opens a stream).
var fuzzTargets = []string{idNetworkMapFilter, idCostMapFilter, idEndpointProp, idEndpointCost,
	idPropMapFilter, idCostMapPV, idEndpointCostPV}

// FuzzRequests feeds arbitrary bodies to every ALTO request decoder: the answer is a
// 200 or a 400 whose body is an ALTO error with one of the four codes, never a panic,
// and the twin is left untouched. Seed corpus: testdata/fuzz/FuzzRequests.
func FuzzRequests(f *testing.F) {
	for i, id := range fuzzTargets {
		b, _ := json.Marshal(minimalBody[id])
		f.Add(uint8(i), b)
	}
	fx := newFixture(f, Options{})
	rev := fx.twins.Live().Revision()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		res := fx.srv.byID[fuzzTargets[int(which)%len(fuzzTargets)]]
		req := httptest.NewRequest(http.MethodPost, "/alto"+res.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", res.Accepts)
		rec := httptest.NewRecorder()
		fx.srv.Handler().ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if rec.Header().Get("Content-Type") != MediaError {
				t.Fatalf("400 with Content-Type %q", rec.Header().Get("Content-Type"))
			}
			var e struct {
				Meta struct {
					Code string `json:"code"`
				} `json:"meta"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body %q: %v", rec.Body.Bytes(), err)
			}
			switch e.Meta.Code {
			case ESyntax, EMissingField, EInvalidFieldType, EInvalidFieldValue:
			default:
				t.Fatalf("error code %q", e.Meta.Code)
			}
		default:
			t.Fatalf("status %d for %s %q: %s", rec.Code, res.ID, body, rec.Body.Bytes())
		}
		if fx.twins.Live().Revision() != rev {
			t.Fatal("a request changed the twin")
		}
	})
}

// FuzzStreamRequest feeds arbitrary bodies to the update stream request decoder (the
// stream itself is not opened): a request is accepted or refused with one of the four
// ALTO codes. Seed corpus: testdata/fuzz/FuzzStreamRequest.
func FuzzStreamRequest(f *testing.F) {
	f.Add([]byte(`{"add":{"nm":{"resource-id":"networkmap","incremental-changes":false}},"remove":["x"]}`))
	fx := newFixture(f, Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, needAdd := range []bool{true, false} {
			req, e := fx.srv.streams.parseStreamReq(body, needAdd)
			if e != nil {
				switch e.Code {
				case ESyntax, EMissingField, EInvalidFieldType, EInvalidFieldValue:
				default:
					t.Fatalf("code %q", e.Code)
				}
				continue
			}
			known := fx.srv.streams.streamable()
			for sid, rid := range req.add {
				if _, ok := known[rid]; !ok || !validName(sid) {
					t.Fatalf("accepted substream %q → %q", sid, rid)
				}
			}
			if needAdd && len(req.add) == 0 {
				t.Fatal("a stream without substreams accepted")
			}
		}
	})
}
