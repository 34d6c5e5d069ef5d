package repository_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/twinflow/twinflow/repository"
)

func TestSQLitePathWithSpaces(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "twin flow dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "my db%20.db")
	st := openT(t, "file:"+path)
	if _, err := st.Changes().Create(context.Background(), repository.Change{ID: "a", TwinID: "live"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %q: %v", path, err)
	}
}
