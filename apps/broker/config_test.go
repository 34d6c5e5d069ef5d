package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadConfig: a configuration with its token files loads (relative paths from the
// file's directory); every malformed field is refused with its name.
func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "as1.token"), []byte("tfk_abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pin := strings.Repeat("0f", 32)
	cfg := filepath.Join(dir, "broker.json")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"domains":[{"name":"AS1","url":"https://127.0.0.1:18443/","token-file":"as1.token","cert-sha256":"` + pin + `"}],"refresh":"2s"}`)
	doms, refresh, err := LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(doms) != 1 || doms[0].Token != "tfk_abc" || doms[0].URL != "https://127.0.0.1:18443" || len(doms[0].CertSHA256) != 32 || refresh != 2*time.Second {
		t.Fatalf("%+v %v", doms, refresh)
	}
	for _, c := range []struct{ doc, want string }{
		{`{"domains":[]}`, "domains: between 1 and 64"},
		{`{"domains":[{"name":"AS 1","url":"http://a","token-file":"as1.token"}]}`, "domains/0/name"},
		{`{"domains":[{"name":"AS1","url":"ftp://a","token-file":"as1.token"}]}`, "domains/0/url"},
		{`{"domains":[{"name":"AS1","url":"http://u:p@a","token-file":"as1.token"}]}`, "domains/0/url: no credentials"},
		{`{"domains":[{"name":"AS1","url":"http://a","token-file":"as1.token","cert-sha256":"` + pin + `"}]}`, "only for an https url"},
		{`{"domains":[{"name":"AS1","url":"https://a","token-file":"as1.token","cert-sha256":"zz"}]}`, "domains/0/cert-sha256"},
		{`{"domains":[{"name":"AS1","url":"http://a","token-file":"as1.token"},{"name":"AS1","url":"http://b","token-file":"as1.token"}]}`, "domains/1/name: \"AS1\" appears twice"},
		{`{"domains":[{"name":"AS1","url":"http://a","token-file":"as1.token"},{"name":"AS2","url":"http://a/","token-file":"as1.token"}]}`, "domains/1/url"},
		{`{"domains":[{"name":"AS1","url":"http://a"}]}`, "domains/0/token-file: required"},
		{`{"domains":[{"name":"AS1","url":"http://a","token-file":"missing"}]}`, "domains/0/token-file"},
		{`{"domains":[{"name":"AS1","url":"http://a","token-file":"as1.token"}],"refresh":"1ms"}`, "refresh"},
		{`{"domains":[{"name":"AS1","url":"http://a","token-file":"as1.token","extra":1}]}`, "unknown field"},
	} {
		write(c.doc)
		if _, _, err := LoadConfig(cfg); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want …%s", c.doc, err, c.want)
		}
	}
	write(strings.Repeat(" ", MaxConfigBytes+1))
	if _, _, err := LoadConfig(cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("large file: %v", err)
	}
}
