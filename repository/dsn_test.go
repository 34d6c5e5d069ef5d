package repository_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/repository"
)

func TestParseDSN(t *testing.T) {
	cases := []struct {
		dsn, backend, path string
		err                error
		msg                string
	}{
		{dsn: "file:twinflow.db", backend: "sqlite", path: "twinflow.db"},
		{dsn: "file:/var/lib/tf.db", backend: "sqlite", path: "/var/lib/tf.db"},
		{dsn: "file:///var/lib/tf.db", backend: "sqlite", path: "/var/lib/tf.db"},
		{dsn: "postgres://u:p@localhost:5432/tf", backend: "postgres"},
		{dsn: "postgresql:///tf?host=/var/run/postgresql", backend: "postgres"},
		{dsn: "", err: repository.ErrUnsupportedDSN, msg: "empty DSN"},
		{dsn: "twinflow.db", err: repository.ErrUnsupportedDSN, msg: "no scheme"},
		{dsn: "mysql://x/y", err: repository.ErrUnsupportedDSN, msg: `"mysql"`},
		{dsn: "postgres:tf", err: repository.ErrUnsupportedDSN, msg: "postgres://"},
		{dsn: "file:", err: repository.ErrInvalid, msg: "empty file path"},
		{dsn: "file:x.db?mode=ro", err: repository.ErrInvalid, msg: "query"},
		{dsn: "file://remote/x.db", err: repository.ErrInvalid, msg: "host"},
		{dsn: "postgres://u:secret@h/%zz", err: repository.ErrInvalid, msg: "xxxxx"},
	}
	for _, tc := range cases {
		got, err := repository.ParseDSN(tc.dsn)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("ParseDSN(%q) = %v; want %v naming %q", tc.dsn, err, tc.err, tc.msg)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseDSN(%q) leaks the password: %v", tc.dsn, err)
			}
			continue
		}
		if err != nil || got.Backend != tc.backend || got.Path != tc.path {
			t.Errorf("ParseDSN(%q) = %+v, %v; want %s %q", tc.dsn, got, err, tc.backend, tc.path)
		}
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"file:twinflow.db", "file:///a/b.db", "postgres://u:p@h:1/d?sslmode=disable",
		"postgresql:///x", "mysql://", "file:", "", "file://h/x", ":", "file:%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := repository.ParseDSN(s)
		if err != nil {
			if !errors.Is(err, repository.ErrUnsupportedDSN) && !errors.Is(err, repository.ErrInvalid) {
				t.Fatalf("ParseDSN(%q): unclassified error %v", s, err)
			}
			return
		}
		switch d.Backend {
		case "sqlite":
			if d.Path == "" || strings.ContainsRune(d.Path, 0) {
				t.Fatalf("ParseDSN(%q): bad path %q", s, d.Path)
			}
		case "postgres":
		default:
			t.Fatalf("ParseDSN(%q): backend %q", s, d.Backend)
		}
	})
}
