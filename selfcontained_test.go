package twinflow_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The repository is self-contained: no code or test of the module reaches a file
// outside its own tree (issue #12: tests read a schema from a folder beside the
// checkout, so a clone anywhere else failed `make test`). Go tests run in their
// package's directory, so a relative path is resolved from the file's directory.
//
// escapingPaths reports, for one Go file:
//   - a string literal that is a relative path climbing above the module root
//     ("../../../x/y.json" three levels below the root climbs out);
//   - a filepath.Join / path.Join whose leading constant arguments climb above the
//     module root (filepath.Join("..", "..", "..", "shared")), or that climb from a
//     computed directory into a sibling of it (filepath.Join(root, "..", "shared"));
//   - in a test file, an absolute path literal given to a file-opening call
//     (os.Open, os.ReadFile, os.Stat, ...; directly or as the first argument of a
//     Join), unless it is an interface of the machine rather than a data file:
//     /proc, /sys, /dev, /run, /tmp, /var/run.
//
// fileDir is the file's directory relative to the module root, in slash form ("."
// for the root).
func escapingPaths(fileDir, name string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	isTest := strings.HasSuffix(name, "_test.go")
	pkgName := map[string]string{} // local name -> import path, for os, path, path/filepath
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		local := path.Base(p)
		if imp.Name != nil {
			local = imp.Name.Name
		}
		pkgName[local] = p
	}
	callee := func(call *ast.CallExpr) (pkg, fn string) {
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return "", ""
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok {
			return "", ""
		}
		return pkgName[id.Name], sel.Sel.Name
	}
	literal := func(e ast.Expr) (string, bool) {
		bl, ok := e.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(bl.Value)
		return s, err == nil
	}
	var found []string
	report := func(pos token.Pos, format string, args ...any) {
		found = append(found, fmt.Sprintf("%s: %s", fset.Position(pos), fmt.Sprintf(format, args...)))
	}
	// climbs reports whether the relative path rel, resolved from fileDir, leaves the
	// module root.
	climbs := func(rel string) bool {
		if rel == "" || path.IsAbs(rel) || filepath.IsAbs(rel) {
			return false
		}
		j := path.Clean(path.Join(fileDir, filepath.ToSlash(rel)))
		return j == ".." || strings.HasPrefix(j, "../")
	}
	opens := map[string]bool{"Open": true, "OpenFile": true, "ReadFile": true, "Stat": true, "Lstat": true,
		"ReadDir": true, "DirFS": true, "OpenRoot": true, "Create": true, "WriteFile": true}
	machine := []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/var/run"}
	absData := func(s string) bool {
		if !strings.HasPrefix(s, "/") {
			return false
		}
		c := path.Clean(s)
		return !slices.ContainsFunc(machine, func(m string) bool { return c == m || strings.HasPrefix(c, m+"/") })
	}
	// literals compared with or searched for (x == "..", strings.HasPrefix(x, "../"))
	// name no file
	notPaths := map[ast.Expr]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if n.Op == token.EQL || n.Op == token.NEQ {
				notPaths[n.X], notPaths[n.Y] = true, true
			}
		case *ast.BasicLit:
			if s, ok := literal(n); ok && !notPaths[n] && strings.Contains(s, "..") && climbs(s) {
				report(n.Pos(), "path %q climbs out of the repository", s)
			}
		case *ast.CallExpr:
			pkg, fn := callee(n)
			if pkg == "strings" {
				for _, a := range n.Args {
					notPaths[a] = true
				}
			}
			switch {
			case (pkg == "path/filepath" || pkg == "path") && fn == "Join":
				var lead []string
				for _, a := range n.Args {
					s, ok := literal(a)
					if !ok {
						break
					}
					lead = append(lead, s)
				}
				if len(lead) > 1 && climbs(path.Join(lead...)) {
					report(n.Pos(), "%s.Join(%q ...) climbs out of the repository", path.Base(pkg), lead)
				}
				// Join(dir, "..", "shared"): up from a computed directory and down into a
				// sibling of it (the repository root's sibling, in the case that broke).
				for i := len(lead) + 1; i < len(n.Args); i++ {
					s, ok := literal(n.Args[i])
					if !ok || path.Clean(s) != ".." {
						continue
					}
					if j := i + 1; j < len(n.Args) {
						if next, ok := literal(n.Args[j]); !ok || path.Clean(next) != ".." {
							report(n.Pos(), "%s.Join climbs from a computed directory into a sibling of it", path.Base(pkg))
							break
						}
					}
				}
			case pkg == "os" && opens[fn] && isTest && len(n.Args) > 0:
				arg := n.Args[0]
				if inner, ok := arg.(*ast.CallExpr); ok {
					if p, f := callee(inner); (p == "path/filepath" || p == "path") && f == "Join" && len(inner.Args) > 0 {
						arg = inner.Args[0]
					}
				}
				if s, ok := literal(arg); ok && absData(s) {
					report(n.Pos(), "os.%s of %q, outside the repository", fn, s)
				}
			}
		}
		return true
	})
	return found, nil
}

// TestNothingReadsOutsideTheRepository checks every Go file of the module (tests
// included) with escapingPaths.
func TestNothingReadsOutsideTheRepository(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found, err := escapingPaths(filepath.ToSlash(filepath.Dir(p)), p, src)
		if err != nil {
			return err
		}
		checked++
		for _, f := range found {
			t.Error(f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked only %d files; is the walk broken?", checked)
	}
}

// TestEscapingPathsFindsEveryCase runs escapingPaths on the fixture
// testdata/selfcontained/escape_test.go.txt as if it were a test file two levels
// below the root (cmd/twinflow): every line marked "// want" must be reported, and no
// other line.
func TestEscapingPathsFindsEveryCase(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "selfcontained", "escape_test.go.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for i, l := range strings.Split(string(src), "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), "// want") {
			want = append(want, i+1)
		}
	}
	if len(want) < 5 {
		t.Fatalf("fixture marks only %d bad lines", len(want))
	}
	found, err := escapingPaths("cmd/twinflow", "cmd/twinflow/escape_test.go", src)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, f := range found {
		_, rest, _ := strings.Cut(f, ":")
		n, _, _ := strings.Cut(rest, ":")
		line, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("finding %q has no line", f)
		}
		if !slices.Contains(got, line) {
			got = append(got, line)
		}
		t.Log(f)
	}
	if !slices.Equal(got, want) {
		t.Errorf("reported lines %v, want %v", got, want)
	}
	// the same code in a non-test file: absolute paths are not judged there
	found, err = escapingPaths("cmd/twinflow", "cmd/twinflow/escape.go", []byte(`package p
import "os"
func f() { _, _ = os.ReadFile("/etc/hostname") }
`))
	if err != nil || len(found) != 0 {
		t.Errorf("non-test file: %v, %v", found, err)
	}
}
