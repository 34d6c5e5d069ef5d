package certify

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
)

func load(t *testing.T, name string) (*network.Network, *change.ChangeSet) {
	t.Helper()
	nb, err := os.ReadFile("testdata/network.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n, err := network.Decode(bytes.NewReader(nb), network.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := change.Decode(cb)
	if err != nil {
		t.Fatal(err)
	}
	return n, cs
}

// CheckJUnit checks b against the Jenkins/Ant JUnit format (the xunit junit-10.xsd
// structure): root testsuites; testsuite with name, tests, failures, errors, skipped,
// time; testcase with name, classname, time; at most one failure (message, type) or
// skipped; counts that match the cases. It returns the failed case names.
func CheckJUnit(t *testing.T, b []byte) []string {
	t.Helper()
	type failure struct {
		Message *string `xml:"message,attr"`
		Type    *string `xml:"type,attr"`
	}
	type tc struct {
		Name      *string    `xml:"name,attr"`
		ClassName *string    `xml:"classname,attr"`
		Time      *string    `xml:"time,attr"`
		Failures  []failure  `xml:"failure"`
		Skipped   []struct{} `xml:"skipped"`
		Errors    []struct{} `xml:"error"`
	}
	type suite struct {
		Name     *string `xml:"name,attr"`
		Tests    *string `xml:"tests,attr"`
		Failures *string `xml:"failures,attr"`
		Errors   *string `xml:"errors,attr"`
		Skipped  *string `xml:"skipped,attr"`
		Time     *string `xml:"time,attr"`
		Cases    []tc    `xml:"testcase"`
	}
	var doc struct {
		XMLName  xml.Name
		Tests    *string `xml:"tests,attr"`
		Failures *string `xml:"failures,attr"`
		Suites   []suite `xml:"testsuite"`
	}
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		t.Fatal("no XML declaration")
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	if doc.XMLName.Local != "testsuites" || len(doc.Suites) == 0 {
		t.Fatalf("root %q with %d suites", doc.XMLName.Local, len(doc.Suites))
	}
	atoi := func(what string, p *string) int {
		if p == nil {
			t.Fatalf("missing attribute %s", what)
		}
		v, err := strconv.Atoi(*p)
		if err != nil || v < 0 {
			t.Fatalf("%s=%q is not a count", what, *p)
		}
		return v
	}
	var failed []string
	totalT, totalF := 0, 0
	for _, s := range doc.Suites {
		if s.Name == nil || *s.Name == "" || s.Time == nil {
			t.Fatal("testsuite without name or time")
		}
		if _, err := strconv.ParseFloat(*s.Time, 64); err != nil {
			t.Fatalf("testsuite time %q", *s.Time)
		}
		nt, nf, ns, ne := atoi("tests", s.Tests), atoi("failures", s.Failures), atoi("skipped", s.Skipped), atoi("errors", s.Errors)
		f, sk, e := 0, 0, 0
		for _, c := range s.Cases {
			if c.Name == nil || *c.Name == "" || c.ClassName == nil || *c.ClassName == "" || c.Time == nil {
				t.Fatal("testcase without name, classname or time")
			}
			if len(c.Failures)+len(c.Skipped)+len(c.Errors) > 1 {
				t.Fatalf("testcase %s has several outcomes", *c.Name)
			}
			for _, fl := range c.Failures {
				if fl.Message == nil || fl.Type == nil {
					t.Fatalf("failure of %s without message or type", *c.Name)
				}
				failed = append(failed, *c.Name)
			}
			f += len(c.Failures)
			sk += len(c.Skipped)
			e += len(c.Errors)
		}
		if nt != len(s.Cases) || nf != f || ns != sk || ne != e {
			t.Fatalf("suite %s counts tests=%d failures=%d skipped=%d errors=%d, cases say %d %d %d %d", *s.Name, nt, nf, ns, ne, len(s.Cases), f, sk, e)
		}
		totalT += nt
		totalF += nf
	}
	if atoi("testsuites tests", doc.Tests) != totalT || atoi("testsuites failures", doc.Failures) != totalF {
		t.Fatal("testsuites totals do not add up")
	}
	return failed
}

// Seed 004 §9.3: a passing change certifies; its JUnit has no failure.
func TestSnapshotPass(t *testing.T) {
	n, cs := load(t, "pass.yaml")
	r, err := Snapshot(context.Background(), n, cs, "snapshot:test")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Passed || len(r.Report.Checks) == 0 || r.Level != change.L1 {
		t.Fatalf("passed=%v level=%s checks=%v", r.Passed, r.Level, r.Report.Checks)
	}
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	if f := CheckJUnit(t, b.Bytes()); len(f) != 0 {
		t.Fatalf("failed cases %v", f)
	}
	md, h := Markdown(r)
	if !strings.Contains(string(md), "PASSED") || len(h) != 64 {
		t.Fatalf("report %s hash %s", md, h)
	}
}

// Seed 004 §9.3: a failing change fails certification and its JUnit names the check.
func TestSnapshotFail(t *testing.T) {
	n, cs := load(t, "fail.yaml")
	r, err := Snapshot(context.Background(), n, cs, "snapshot:test")
	if err != nil {
		t.Fatal(err)
	}
	if r.Passed {
		t.Fatalf("an over-demanding change certified: %+v", r.Report.Checks)
	}
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	f := CheckJUnit(t, b.Bytes())
	if len(f) == 0 || !strings.Contains(b.String(), "l1.bandwidth") {
		t.Fatalf("failed cases %v in %s", f, b.String())
	}
	md, _ := Markdown(r)
	if !strings.Contains(string(md), "FAILED") || !strings.Contains(string(md), "| L1 | l1.bandwidth | FAIL |") {
		t.Fatalf("report:\n%s", md)
	}
}

// The content hash ignores identity and depends on what the change does.
func TestContentHash(t *testing.T) {
	_, a := load(t, "pass.yaml")
	_, b := load(t, "pass.yaml")
	b.ID, b.Author, b.Label = "x", "someone", "other"
	ha, _ := ContentHash(a)
	hb, _ := ContentHash(b)
	if ha != hb {
		t.Fatal("identity changed the content hash")
	}
	b.Twin.AddFlows[0].Dst = "a"
	if hc, _ := ContentHash(b); hc == ha {
		t.Fatal("a different change has the same content hash")
	}
}

// Seed 004 §9.3: a certification is stored and appended to the ledger, bound to the hashes.
func TestRecord(t *testing.T) {
	n, cs := load(t, "pass.yaml")
	r, err := Snapshot(context.Background(), n, cs, "snapshot:test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "c.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, h := Markdown(r)
	c, err := Record(ctx, st, r, h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Certifications().Get(ctx, c.ID)
	if err != nil || got.Verdict != "pass" || !strings.Contains(string(got.Report), h) || !strings.Contains(string(got.Report), r.ContentHash) {
		t.Fatalf("stored %+v, %v", got, err)
	}
	led, err := st.Ledger().List(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range led {
		if e.Kind == LedgerKind && e.Subject == c.ID && strings.Contains(string(e.Payload), h) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no ledger record of %s in %d records", c.ID, len(led))
	}
}

func TestJUnitEscapes(t *testing.T) {
	r := &Result{ChangeID: "c<1>", ContentHash: strings.Repeat("a", 64), Level: change.L1,
		Report: change.Report{Checks: []change.Check{{Name: "x&y", Level: change.L0, Status: change.Fail, Message: "bad \x00 <tag> ]]>"}}}}
	var b bytes.Buffer
	if err := WriteJUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	if f := CheckJUnit(t, b.Bytes()); len(f) != 1 || f[0] != "x&y" {
		t.Fatalf("failed %v", f)
	}
	empty := &Result{ContentHash: strings.Repeat("b", 64)}
	b.Reset()
	WriteJUnit(&b, empty)
	if f := CheckJUnit(t, b.Bytes()); len(f) != 1 {
		t.Fatalf("a report without checks must fail, got %v", f)
	}
}
