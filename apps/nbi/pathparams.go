package nbi

import (
	"net/http"
	"net/url"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
)

// MaxPathParamBytes bounds every path parameter (change, twin, device, link, flow and
// fork IDs) after percent-decoding. It matches the repository's identifier bound.
const MaxPathParamBytes = 256

// maxInstanceBytes bounds the request path echoed in a problem's "instance".
const maxInstanceBytes = 512

// checkPathParams refuses a request whose path parameters are not IDs any route
// accepts: empty, longer than MaxPathParamBytes, not valid percent-encoding, not valid
// UTF-8, or holding control characters (NUL included). It runs before any handler, so a
// refused value is never looked up, stored or logged; the problem names the parameter,
// never its value.
func checkPathParams(r *http.Request) *Error {
	rc := chi.RouteContext(r.Context())
	if rc == nil {
		return nil
	}
	for i, name := range rc.URLParams.Keys {
		if i >= len(rc.URLParams.Values) {
			break
		}
		if why := badPathParam(rc.URLParams.Values[i]); why != "" {
			return BadRequest(name, "path parameter %q %s", name, why)
		}
	}
	return nil
}

// badPathParam says what is wrong with a raw (percent-encoded) path parameter, or "".
func badPathParam(raw string) string {
	if len(raw) > 3*MaxPathParamBytes {
		return "is longer than " + strconv.Itoa(MaxPathParamBytes) + " bytes"
	}
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "is not valid percent-encoding"
	}
	return badID(v)
}

// badID says what is wrong with a decoded ID (a path parameter, the ID a page token
// carries), or "".
func badID(v string) string {
	switch {
	case v == "":
		return "is empty"
	case len(v) > MaxPathParamBytes:
		return "is longer than " + strconv.Itoa(MaxPathParamBytes) + " bytes"
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	}
	for _, c := range v {
		if unicode.IsControl(c) || c == utf8.RuneError {
			return "contains a control character"
		}
	}
	return ""
}

// safeInstance is the request path as a problem's "instance" and in logs: the path
// when it is short, valid UTF-8 and free of control characters, else the route pattern
// (or nothing), so that no refused input is echoed or logged.
func safeInstance(r *http.Request) string {
	p := r.URL.Path
	if len(p) <= maxInstanceBytes && utf8.ValidString(p) {
		ok := true
		for _, c := range p {
			if unicode.IsControl(c) {
				ok = false
				break
			}
		}
		if ok {
			return p
		}
	}
	if rc := chi.RouteContext(r.Context()); rc != nil {
		return rc.RoutePattern()
	}
	return ""
}
