package bottleneck

import (
	"errors"
	"strings"
	"testing"
)

// TestParseTopLevelKeysExact: the document's top-level keys match exactly. The
// one-pass decode once folded case ("Links" was read as "links") while the
// element-by-element pass refused it; both now refuse it and name the key.
func TestParseTopLevelKeysExact(t *testing.T) {
	for _, doc := range []string{
		`{"Links":[{"id":"l1","capacity":5}],"flows":[]}`,
		`{"links":[{"id":"l1","capacity":5}],"FLOWS":[]}`,
	} {
		_, err := Parse([]byte(doc))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("Parse(%s) = %v, want an unknown-field error", doc, err)
		}
	}
	// a repeated key: the last value wins, in both passes
	d, err := Parse([]byte(`{"links":[{"id":"x","capacity":9}],"links":[{"id":"a","capacity":1}],"flows":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Bottleneck.Links; len(got) != 1 || got[0].ID != "a" {
		t.Errorf("repeated key: links = %+v, want the last value [a]", got)
	}
}
