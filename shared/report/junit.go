package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// JUnitCoverageCase is the name of junit.xml's test case that fails when the
// verdict is incomplete, so that a CI system does not show an incomplete run
// as green.
const JUnitCoverageCase = "coverage/generator"

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
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
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes junit.xml: one test case per threshold, named by its
// expression, failing with the observed value when the threshold fails; a
// case "comparison" when the report has a baseline comparison, failing on
// a regression; and, when the verdict is incomplete, a case
// JUnitCoverageCase failing with the verdict's reasons.
func WriteJUnit(w io.Writer, rep *Report) error {
	if rep == nil {
		return fmt.Errorf("write junit report: no report")
	}
	class := rep.PlanName
	if class == "" {
		class = "cicada"
	}
	seconds := strconv.FormatFloat(max(rep.End.Sub(rep.Start).Seconds(), 0), 'f', 3, 64)
	suite := junitSuite{
		Name: class,
		Time: seconds,
		Properties: []junitProperty{
			{Name: "run_id", Value: rep.RunID},
			{Name: "status", Value: rep.Status},
			{Name: "verdict", Value: rep.Verdict},
		},
	}
	if !rep.Start.IsZero() {
		suite.Timestamp = rep.Start.UTC().Format("2006-01-02T15:04:05")
	}
	for _, th := range rep.Thresholds {
		c := junitCase{Name: th.Expr, Classname: class, Time: seconds}
		if !th.Pass {
			msg := fmt.Sprintf("observed %s, expected %s", observedString(th), th.Expr)
			if th.Reason != "" {
				msg = th.Reason + ", expected " + th.Expr
			}
			body := msg
			if len(th.FailingSlices) > 0 {
				body += "\nfailing slices: " + joinInts(th.FailingSlices)
			}
			c.Failure = &junitFailure{Message: msg, Type: "threshold", Body: body}
		}
		suite.Cases = append(suite.Cases, c)
	}
	if cmp := rep.Comparison; cmp != nil {
		c := junitCase{Name: "comparison", Classname: class, Time: seconds}
		if cmp.Regression {
			var worse []string
			for _, m := range cmp.Metrics {
				if m.Regression {
					worse = append(worse, fmt.Sprintf("%s %s -> %s %s (%+.1f%%)", m.Name,
						strconv.FormatFloat(m.Base, 'f', -1, 64), strconv.FormatFloat(m.New, 'f', -1, 64), m.Unit, m.ChangePct))
				}
			}
			msg := fmt.Sprintf("regression against %s beyond %g%%: %s", cmp.BaselineRunID, cmp.TolerancePct, strings.Join(worse, "; "))
			c.Failure = &junitFailure{Message: msg, Type: "regression", Body: msg}
		}
		suite.Cases = append(suite.Cases, c)
	}
	if rep.Verdict == VerdictIncomplete || rep.Verdict == VerdictError {
		reasons := rep.VerdictReasons
		if len(reasons) == 0 {
			reasons = []string{"the run is " + rep.Verdict}
		}
		msg := rep.Verdict + ": " + strings.Join(reasons, "; ")
		suite.Cases = append(suite.Cases, junitCase{
			Name: JUnitCoverageCase, Classname: class, Time: seconds,
			Failure: &junitFailure{Message: msg, Type: "incomplete", Body: strings.Join(reasons, "\n")},
		})
	}
	suite.Tests = len(suite.Cases)
	for _, c := range suite.Cases {
		if c.Failure != nil {
			suite.Failures++
		}
	}
	doc := junitSuites{Name: "cicada", Tests: suite.Tests, Failures: suite.Failures, Time: seconds, Suites: []junitSuite{suite}}

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit report %s: %w", rep.RunID, err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit report %s: %w", rep.RunID, err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit report %s: %w", rep.RunID, err)
	}
	return nil
}

// observedString is a threshold's observed value with its unit.
func observedString(th ThresholdResult) string {
	// Three decimals: the precision of the report's own figures.
	v := strconv.FormatFloat(math.Round(th.Observed*1000)/1000, 'f', -1, 64)
	switch th.Unit {
	case "":
		return v
	case "%":
		return v + "%"
	default:
		return v + " " + th.Unit
	}
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}
