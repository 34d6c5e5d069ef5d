package twinflow_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/twinflow/twinflow/"

// allowedImports is the dependency direction of docs/ARCHITECTURE.md: for each layer,
// the project packages its (non-test) code may import. cmd may import anything.
var allowedImports = map[string][]string{
	"models":     {"models/"},
	"repository": {"models/", "repository"},
	"physical":   {"models/", "physical/"},
	"labs":       {"models/", "labs/", "physical/"},
	"twin":       {"models/", "repository", "twin", "labs/probe", "labs/delayline"},
	"apps":       {"models/", "repository", "twin", "apps/"},
	// apps/server assembles a server: the one package of apps that wires the physical
	// network's implementations (and the demo's stand-in network) into the interfaces
	// the twin layer defines. Only cmd imports it (assembledOnlyByCmd).
	"apps/server": {"models/", "repository", "twin", "apps/", "physical/", "labs/"},
}

// heavyForModels are third-party modules models/ must not import: models stay pure and
// light (containerlab's module brings netlink and scrapligo; it is read beside the
// containerlab backend, in twin/emulation/clab).
var heavyForModels = []string{"github.com/srl-labs/", "github.com/vishvananda/", "google.golang.org/grpc",
	"github.com/openconfig/", "github.com/jackc/", "modernc.org/"}

// assembledOnlyByCmd are packages only cmd may import.
var assembledOnlyByCmd = []string{"apps/server"}

// TestImportDirection fails when a package imports against the architecture's
// dependency direction (imports point down only; models stays pure).
func TestImportDirection(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		layer, _, _ := strings.Cut(filepath.ToSlash(path), "/")
		if dir := filepath.ToSlash(filepath.Dir(path)); allowedImports[dir] != nil {
			layer = dir
		}
		allowed, ok := allowedImports[layer]
		if !ok {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			rel, ok := strings.CutPrefix(p, module)
			if !ok {
				for _, h := range heavyForModels {
					if layer == "models" && strings.HasPrefix(p, h) {
						t.Errorf("%s imports %s: models/ stays pure and light (docs/ARCHITECTURE.md)", path, p)
					}
				}
				continue
			}
			fine := false
			for _, top := range assembledOnlyByCmd {
				if (rel == top || strings.HasPrefix(rel, top+"/")) && layer != top {
					t.Errorf("%s imports %s: only cmd may import %s", path, rel, top)
				}
			}
			for _, a := range allowed {
				if rel == strings.TrimSuffix(a, "/") || strings.HasPrefix(rel, a) || strings.HasPrefix(rel, a+"/") {
					fine = true
				}
			}
			if !fine {
				t.Errorf("%s imports %s: %s/ may import only %v (docs/ARCHITECTURE.md)", path, rel, layer, allowed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files; is the walk broken?", checked)
	}
}
