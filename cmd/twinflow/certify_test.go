package main

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/repository"
)

const certNet = "../../apps/certify/testdata/network.yaml"

// junitFailures parses a JUnit file and returns tests and failures of the root.
func junitFailures(t *testing.T, path string) (tests, failures int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName  xml.Name
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.XMLName.Local != "testsuites" {
		t.Fatalf("%s: %v %q", path, err, doc.XMLName.Local)
	}
	return doc.Tests, doc.Failures
}

// Seed 004 §9.3: certify on a passing and a failing change (in-process on a
// snapshot), exit codes, JUnit, report, and the certification in the repository.
func TestCertifySnapshotCLI(t *testing.T) {
	dir := t.TempDir()
	db := "file:" + filepath.Join(dir, "cert.db")
	for _, tc := range []struct {
		change string
		code   int
	}{{"pass.yaml", 0}, {"fail.yaml", 1}} {
		junit, report := filepath.Join(dir, tc.change+".xml"), filepath.Join(dir, tc.change+".md")
		out, code, err := runTopology(t, "", "certify", "-f", "../../apps/certify/testdata/"+tc.change, "--snapshot", certNet,
			"--junit", junit, "--report", report, "--db", db)
		if code != tc.code {
			t.Fatalf("%s: exit %d (%v), want %d\n%s", tc.change, code, err, tc.code, out)
		}
		tests, failures := junitFailures(t, junit)
		if tests == 0 || (failures > 0) != (tc.code != 0) {
			t.Fatalf("%s: junit tests=%d failures=%d", tc.change, tests, failures)
		}
		md, _ := os.ReadFile(report)
		if want := map[int]string{0: "PASSED", 1: "FAILED"}[tc.code]; !strings.Contains(string(md), want) || !strings.Contains(out, want) {
			t.Fatalf("%s: report/stdout lack %s:\n%s\n%s", tc.change, want, md, out)
		}
		if !strings.Contains(out, "certification cert-") {
			t.Fatalf("%s: not recorded: %s", tc.change, out)
		}
	}
	st, err := repository.Open(context.Background(), db, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	certs, err := st.Certifications().List(context.Background(), "")
	if err != nil || len(certs) != 2 {
		t.Fatalf("%d certifications, %v", len(certs), err)
	}
	verdicts := map[string]bool{}
	for _, c := range certs {
		verdicts[c.Verdict] = true
	}
	if !verdicts["pass"] || !verdicts["fail"] {
		t.Fatalf("verdicts %v", verdicts)
	}
	// bad input exits 2
	for _, args := range [][]string{
		{"certify", "--snapshot", certNet},
		{"certify", "-f", "../../apps/certify/testdata/pass.yaml", "--snapshot", certNet, "--level", "L9"},
		{"certify", "-f", "../../apps/certify/testdata/network.yaml", "--snapshot", certNet},
		{"certify", "-f", "../../apps/certify/testdata/pass.yaml", "--snapshot", "nope.yaml"},
	} {
		if _, code, _ := runTopology(t, "", args...); code != 2 {
			t.Fatalf("%v: exit %d, want 2", args, code)
		}
	}
}

// Seed 004 §9.3: certify through a server's change API gives the same verdicts.
func TestCertifyServerCLI(t *testing.T) {
	url := startChangeServer(t)
	mustCLI(t, url, "apply", "-f", certNet, "--as", "admin") // a direct live write: admin only
	dir := t.TempDir()
	for _, tc := range []struct {
		change string
		code   int
	}{{"pass.yaml", 0}, {"fail.yaml", 1}} {
		junit := filepath.Join(dir, tc.change+".xml")
		out, errs, code := cli(t, url, "certify", "-f", "../../apps/certify/testdata/"+tc.change, "--junit", junit)
		if code != tc.code {
			t.Fatalf("%s: exit %d, want %d\n%s%s", tc.change, code, tc.code, out, errs)
		}
		if _, failures := junitFailures(t, junit); (failures > 0) != (tc.code != 0) {
			t.Fatalf("%s: %d failures", tc.change, failures)
		}
		b, _ := os.ReadFile(junit)
		if !strings.Contains(string(b), `value="server:`+url+`"`) || !strings.Contains(out, map[int]string{0: "PASSED", 1: "FAILED"}[tc.code]) {
			t.Fatalf("%s: stdout %s junit %s", tc.change, out, b)
		}
	}
}
