package twinflow_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFuzzTargetsExist: every target .ci/fuzz runs (make fuzz-ci, part of make test)
// names a package and a Fuzz function that exist, so a target moved or renamed fails
// here instead of silently fuzzing nothing.
func TestFuzzTargetsExist(t *testing.T) {
	f, err := os.Open(filepath.Join(".ci", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := regexp.MustCompile(`^\s*"(\./[^ "]+) (Fuzz\w+)"\s*$`)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n++
		pkg, name := m[1], m[2]
		files, err := filepath.Glob(filepath.Join(pkg, "*_test.go"))
		if err != nil || len(files) == 0 {
			t.Errorf("%s %s: no test files in %s", pkg, name, pkg)
			continue
		}
		found := false
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "func "+name+"(f *testing.F)") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf(".ci/fuzz names %s in %s, which has no such fuzz target", name, pkg)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d targets in .ci/fuzz: the list's format changed?", n)
	}
}
