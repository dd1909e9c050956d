// Package metricstest scrapes a server's /metrics in tests and reads the
// series out of it, parsed with the Prometheus exposition parser
// (github.com/prometheus/common/expfmt), not with patterns. For tests only.
package metricstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one scrape, by name.
type Families map[string]*dto.MetricFamily

// Scrape GETs url (a /metrics URL) with client, asking for the text
// format, and parses the answer; it fails the test on any error, a status
// other than 200 or a text that does not parse.
func Scrape(t testing.TB, client *http.Client, url string) Families {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return Parse(t, string(b))
}

// Parse parses a text exposition.
func Parse(t testing.TB, text string) Families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, text)
	}
	return fams
}

// Metric returns the series of family name whose labels include every
// pair of labels (name, value, name, value, …), or nil. It fails the test
// if more than one matches.
func (f Families) Metric(t testing.TB, name string, labels ...string) *dto.Metric {
	t.Helper()
	var found *dto.Metric
	for _, m := range f.All(name, labels...) {
		if found != nil {
			t.Fatalf("more than one %s series with labels %v", name, labels)
		}
		found = m
	}
	return found
}

// All returns the series of family name whose labels include labels.
func (f Families) All(name string, labels ...string) []*dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []*dto.Metric
series:
	for _, m := range fam.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if label(m, labels[i]) != labels[i+1] {
				continue series
			}
		}
		out = append(out, m)
	}
	return out
}

// Type is the type of family name, or "" when it is absent.
func (f Families) Type(name string) string {
	if fam := f[name]; fam != nil {
		return strings.ToLower(fam.GetType().String())
	}
	return ""
}

// Value is the value of a counter, gauge or untyped series; for a
// histogram, its sample count. It fails the test when there is no such
// series.
func (f Families) Value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	m := f.Metric(t, name, labels...)
	if m == nil {
		t.Fatalf("no %s series with labels %v; families: %s", name, labels, f.names())
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s %v: no value", name, labels)
	return 0
}

// Sum adds up Value over every series of name whose labels include labels.
func (f Families) Sum(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, m := range f.All(name, labels...) {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// Label returns the value of label name of m ("" when absent).
func Label(m *dto.Metric, name string) string { return label(m, name) }

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func (f Families) names() string {
	var n []string
	for k := range f {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

// JSONLines parses the whole lines of a JSON log (a --log-format json
// stderr; a last line without its newline, still being written, is left
// out); it fails the test on a line that is not a JSON object.
func JSONLines(t testing.TB, log string) []map[string]any {
	t.Helper()
	log = log[:strings.LastIndexByte(log, '\n')+1]
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("a JSON log line is not JSON: %v: %q", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// Buffer collects a server's log lines: safe for the server's writes and
// the test's reads at the same time. The zero value is ready.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
