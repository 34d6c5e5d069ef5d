package certify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/change"
)

// JUnit types: the Jenkins/Ant JUnit XML format (testsuites > testsuite > testcase
// with failure or skipped), as read by Jenkins, GitLab, GitHub Actions reporters and
// the xunit schema junit-10.xsd.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Hostname   string          `xml:"hostname,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// xmlSafe drops characters XML 1.0 cannot carry.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
			return r
		}
		return -1
	}, s)
}

// WriteJUnit writes r as JUnit XML: one testsuite per validation level, one testcase
// per check (classname "twinflow.certify.<level>"); failed checks carry a failure.
func WriteJUnit(w io.Writer, r *Result) error {
	bySuite := map[change.Level]*junitSuite{}
	var order []change.Level
	all := junitSuites{Name: "twinflow certify " + r.ContentHash[:12], Time: secs(r.Duration)}
	for _, c := range r.Report.Checks {
		s, ok := bySuite[c.Level]
		if !ok {
			s = &junitSuite{Name: "twinflow.certify." + string(c.Level), Time: "0.000",
				Timestamp: r.Started.Format("2006-01-02T15:04:05"), Hostname: "localhost",
				Properties: []junitProperty{{"change_id", xmlSafe(r.ChangeID)}, {"content_hash", r.ContentHash},
					{"target", xmlSafe(r.Target)}, {"level", string(r.Level)}}}
			bySuite[c.Level] = s
			order = append(order, c.Level)
		}
		tc := junitCase{Name: xmlSafe(c.Name), ClassName: "twinflow.certify." + string(c.Level), Time: "0.000"}
		switch c.Status {
		case change.Fail:
			tc.Failure = &junitFailure{Message: xmlSafe(c.Message), Type: "CheckFailed", Text: xmlSafe(c.Message)}
			s.Failures++
		case change.Skip:
			tc.Skipped = &junitSkipped{Message: xmlSafe(c.Message)}
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	if len(order) == 0 { // no checks at all is a failure, never a silent pass
		s := &junitSuite{Name: "twinflow.certify", Time: "0.000", Timestamp: r.Started.Format("2006-01-02T15:04:05"), Hostname: "localhost",
			Tests: 1, Failures: 1, Cases: []junitCase{{Name: "validation", ClassName: "twinflow.certify", Time: "0.000",
				Failure: &junitFailure{Message: "validation produced no checks", Type: "NoChecks"}}}}
		bySuite[""] = s
		order = append(order, "")
	}
	for _, l := range order {
		s := bySuite[l]
		s.SystemOut = fmt.Sprintf("change %s content %s target %s passed=%v", xmlSafe(r.ChangeID), r.ContentHash, xmlSafe(r.Target), r.Passed)
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Skipped += s.Skipped
		all.Suites = append(all.Suites, *s)
	}
	b, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Markdown renders r as a Markdown report and returns it with its hex SHA-256 (the
// hash a certification records).
func Markdown(r *Result) ([]byte, string) {
	var b bytes.Buffer
	verdict := "FAILED"
	if r.Passed {
		verdict = "PASSED"
	}
	fmt.Fprintf(&b, "# TwinFlow certification: %s\n\n", verdict)
	fmt.Fprintf(&b, "| | |\n|---|---|\n| change | `%s` |\n| content hash | `%s` |\n| level | %s |\n| target | `%s` |\n| started | %s |\n| duration | %s |\n\n",
		md(r.ChangeID), r.ContentHash, r.Level, md(r.Target), r.Started.Format(time.RFC3339), r.Duration.Round(time.Microsecond))
	fmt.Fprintf(&b, "## Checks\n\n| level | check | status | message |\n|---|---|---|---|\n")
	for _, c := range r.Report.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Level, md(c.Name), strings.ToUpper(string(c.Status)), md(c.Message))
	}
	if len(r.Report.KPIs) > 0 {
		fmt.Fprintf(&b, "\n## KPIs\n\n| KPI | subject | before | after | unit |\n|---|---|---|---|---|\n")
		for _, k := range r.Report.KPIs {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", md(k.Name), md(k.Subject), num(k.Before), num(k.After), md(k.Unit))
		}
	}
	if len(r.Report.Ripple) > 0 {
		fmt.Fprintf(&b, "\n## Flows affected\n\n| flow | owner | before Gb/s | after Gb/s | violates SLO |\n|---|---|---|---|---|\n")
		for _, f := range r.Report.Ripple {
			fmt.Fprintf(&b, "| %s | %s | %.4f | %.4f | %v |\n", md(f.Flow), md(f.Owner), f.BeforeGbps, f.AfterGbps, f.Violates)
		}
	}
	h := sha256.Sum256(b.Bytes())
	return b.Bytes(), hex.EncodeToString(h[:])
}

func num(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.4f", *v)
}

// md keeps a table cell on one line and escapes the pipe.
func md(s string) string {
	s = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
	return s
}
