package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserUpdateDelete (REQ-SEC-02): `twinflow user update|delete` change roles and
// passwords and delete users on the database; bad input is a usage error that changes
// nothing; the last admin can be neither demoted nor deleted.
func TestUserUpdateDelete(t *testing.T) {
	dir := t.TempDir()
	db := "file:" + filepath.Join(dir, "users.db")
	for _, args := range [][]string{
		{"user", "create", "root", "--role", "admin", "--db", db},
		{"user", "create", "Bob", "--role", "engineer", "--db", db},
	} {
		if out, err := runTwinflow(args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	roles := func() map[string]string {
		t.Helper()
		out, err := runTwinflow("user", "list", "--db", db, "-o", "json")
		if err != nil {
			t.Fatalf("list: %v\n%s", err, out)
		}
		var us []struct {
			Name string `json:"name"`
			Role string `json:"role"`
		}
		if err := json.Unmarshal([]byte(out), &us); err != nil {
			t.Fatalf("list -o json: %v\n%s", err, out)
		}
		m := map[string]string{}
		for _, u := range us {
			m[u.Name] = u.Role
		}
		return m
	}
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runTwinflow("user", "update", "bob", "--role", "Approver,operator", "--password-file", pw, "--db", db)
	if err != nil || !strings.Contains(out, "user bob updated (roles approver,operator, password set)") {
		t.Fatalf("update: %v\n%s", err, out)
	}
	want := map[string]string{"root": "admin", "bob": "approver,operator"}
	if got := roles(); got["root"] != want["root"] || got["bob"] != want["bob"] || len(got) != 2 {
		t.Fatalf("roles %v, want %v", got, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "update", "bob"}, "nothing to change"},
		{[]string{"user", "update", "bob", "--role", "wizard"}, `unknown role "wizard"`},
		{[]string{"user", "update", "bob", "--role", ""}, "at least one role"},
		{[]string{"user", "update", "bob", "--password-file", pw, "--no-password"}, "contradict"},
		{[]string{"user", "update", "bob", "--role", "viewer", "--password-file", short}, "password"},
		{[]string{"user", "update", "bad name!", "--role", "viewer"}, "user name"},
		{[]string{"user", "update", "nobody", "--role", "viewer"}, "not found"},
		{[]string{"user", "update", "root", "--role", "viewer"}, "last admin"},
		{[]string{"user", "delete", "root"}, "last admin"},
		{[]string{"user", "delete", "nobody"}, "not found"},
		{[]string{"user", "delete"}, "accepts 1 arg"},
	} {
		out, err := runTwinflow(append(c.args, "--db", db)...)
		if err == nil || !strings.Contains(err.Error()+out, c.want) {
			t.Errorf("%v: want an error with %q, got %v\n%s", c.args, c.want, err, out)
		}
	}
	if got := roles(); got["root"] != want["root"] || got["bob"] != want["bob"] || len(got) != 2 {
		t.Fatalf("a refused command changed roles: %v, want %v", got, want)
	}
	if out, err := runTwinflow("user", "update", "bob", "--no-password", "--db", db); err != nil || !strings.Contains(out, "no password") {
		t.Fatalf("--no-password: %v\n%s", err, out)
	}
	out, err = runTwinflow("user", "delete", "BOB", "--db", db, "-o", "json")
	if err != nil || !strings.Contains(out, `"name": "bob"`) && !strings.Contains(out, `"name":"bob"`) {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if got := roles(); len(got) != 1 || got["root"] != "admin" {
		t.Fatalf("after delete: %v", got)
	}
}
