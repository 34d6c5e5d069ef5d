package network

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitizeText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"mtu\x00", "mtu\uFFFD"},
		{"a\nb\tc", "a b c"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"\x1b[31mred", "\uFFFD[31mred"},
	} {
		if got := SanitizeText(c.in, 100); got != c.want {
			t.Errorf("SanitizeText(%q) = %q; want %q", c.in, got, c.want)
		}
		if CheckText(SanitizeText(c.in, 100), 100) != "" && !strings.Contains(c.want, "\uFFFD") {
			t.Errorf("sanitised %q is not acceptable text", c.in)
		}
	}
	long := strings.Repeat("é", 100) // 200 bytes
	got := SanitizeText(long, 51)
	if len(got) > 51 || !utf8.ValidString(got) {
		t.Fatalf("cut to %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

func FuzzSanitizeText(f *testing.F) {
	for _, s := range []string{"", "mtu\x00", "\xff\xfe", "a\nb", strings.Repeat("é", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SanitizeText(s, 64)
		if len(got) > 64 || !utf8.ValidString(got) {
			t.Fatalf("SanitizeText(%q) = %q", s, got)
		}
		for _, c := range got {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control character left in %q", got)
			}
		}
		if CheckText(s, 64) == "" && got != s {
			t.Fatalf("acceptable text %q changed to %q", s, got)
		}
	})
}
