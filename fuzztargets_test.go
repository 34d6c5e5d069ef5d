package twinflow_test

import (
	"bufio"
	"io/fs"
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

// TestEveryFuzzTargetListed: every Fuzz function in the tree is in .ci/fuzz, so a new
// target is fuzzed by make test from the day it is written (15 were not, 2026-12-07).
func TestEveryFuzzTargetListed(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(".ci", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	line := regexp.MustCompile(`(?m)^\s*"(\./[^ "]+ Fuzz\w+)"\s*$`)
	for _, m := range line.FindAllStringSubmatch(string(b), -1) {
		listed[m[1]] = true
	}
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	n := 0
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(src), -1) {
			n++
			target := "./" + filepath.ToSlash(filepath.Dir(path)) + " " + m[1]
			if !listed[target] {
				t.Errorf("%s: fuzz target %s is not in .ci/fuzz's list (make fuzz-ci would never run it)", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d fuzz targets in the tree: the walk is wrong?", n)
	}
}
