package witness

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestBadInputSweep: ugly requests to every endpoint of witness serve get a
// 4xx (never a 5xx) with a one-line reason, and change nothing: the
// cosigned state, the stored records and the fork count stay as they were.
func TestBadInputSweep(t *testing.T) {
	lk := newLogKey(t, testOrigin)
	wk := newWitnessKey(t, witnessName)
	x := newXLog(t, lk, 20, "sweep")
	other := newLogKey(t, "example.com/other-log")
	w := newTW(t, wk, []logKey{lk}, twOpts{config: func(c *Config) { c.RateLimit = -1 }})
	if r := w.post(t, reqBody(0, nil, x.checkpoint(t, 10))); r.code != 200 {
		t.Fatal(r)
	}
	size0, root0 := w.state(t, testOrigin)
	keys0 := countKeys(t, w.w, 'f') + countKeys(t, w.w, 's')
	forks0 := w.w.ForkCount()

	cp := x.checkpoint(t, 12)
	proof := x.proof(t, 10, 12)
	text := string(cp)
	sigLine := text[strings.LastIndex(strings.TrimSuffix(text, "\n"), "\n")+1:]
	bodyWith := func(old string, proofLines []string, checkpoint string) []byte {
		var b strings.Builder
		b.WriteString("old " + old + "\n")
		for _, p := range proofLines {
			b.WriteString(p + "\n")
		}
		b.WriteString("\n" + checkpoint)
		return []byte(b.String())
	}
	var proofB64 []string
	for _, h := range proof {
		proofB64 = append(proofB64, base64.StdEncoding.EncodeToString(h))
	}
	type tc struct {
		name   string
		method string
		path   string
		ctype  string
		body   []byte
	}
	var cases []tc
	post := func(name string, body []byte) {
		cases = append(cases, tc{name, http.MethodPost, "/add-checkpoint", "text/plain", body})
	}
	for _, n := range []string{"18446744073709551616", "-1", "010", "1e1", "0x0a", " 10", "10 ", "", "٣", "１０", "10\x00"} {
		post("old "+fmt.Sprintf("%q", n), bodyWith(n, proofB64, text))
	}
	post("empty", nil)
	post("no blank line", []byte("old 10\n"+text))
	post("truncated checkpoint", bodyWith("10", proofB64, text[:len(text)/2]))
	post("no signature", bodyWith("10", proofB64, text[:strings.Index(text, "\n\n")+2]))
	post("duplicate signature line", bodyWith("10", proofB64, text+sigLine+"\n"))
	post("signature of another log", bodyWith("0", nil, string(signText(t, checkpointText("example.com/other-log", 1, make([]byte, 32)), other.xsigner))))
	post("unknown origin", bodyWith("0", nil, strings.Replace(text, testOrigin, "example.com/unknown", 1)))
	post("CRLF line ends", bytes.ReplaceAll(bodyWith("10", proofB64, text), []byte("\n"), []byte("\r\n")))
	post("NUL in the checkpoint", bodyWith("10", proofB64, strings.Replace(text, "\n", "\x00\n", 1)))
	post("invalid UTF-8 in the origin", bodyWith("10", proofB64, strings.Replace(text, testOrigin, testOrigin+"\xff", 1)))
	post("proof line not base64", bodyWith("10", []string{"!!!!"}, text))
	post("proof hash too short", bodyWith("10", []string{base64.StdEncoding.EncodeToString(make([]byte, 31))}, text))
	post("too many proof lines", bodyWith("10", strings.Split(strings.Repeat(proofB64[0]+",", 70), ",")[:70], text))
	post("old size beyond the checkpoint", bodyWith("13", proofB64, text))
	post("old size below the state", bodyWith("5", proofB64, text))
	post("junk proof", bodyWith("10", []string{base64.StdEncoding.EncodeToString(make([]byte, 32))}, text))
	post("size 0 with a root", bodyWith("0", nil, string(signText(t, checkpointText(testOrigin, 0, bytes.Repeat([]byte{1}, 32)), lk.xsigner))))
	post("negative size", bodyWith("10", proofB64, strings.Replace(text, "\n12\n", "\n-12\n", 1)))
	post("leading-zero size", bodyWith("10", proofB64, strings.Replace(text, "\n12\n", "\n012\n", 1)))
	post("oversized", bytes.Repeat([]byte("a"), 1<<20))
	cases = append(cases,
		tc{"form content type", http.MethodPost, "/add-checkpoint", "application/x-www-form-urlencoded", bodyWith("10", proofB64, text[:len(text)-3])},
		tc{"GET add-checkpoint", http.MethodGet, "/add-checkpoint", "", nil},
		tc{"PUT add-checkpoint", http.MethodPut, "/add-checkpoint", "text/plain", bodyWith("10", proofB64, text)},
		tc{"POST forks", http.MethodPost, "/forks", "text/plain", nil},
		tc{"forks limit 0", http.MethodGet, "/forks?limit=0", "", nil},
		tc{"forks limit 2^64", http.MethodGet, "/forks?limit=18446744073709551616", "", nil},
		tc{"forks limit -1", http.MethodGet, "/forks?limit=-1", "", nil},
		tc{"forks limit 007", http.MethodGet, "/forks?limit=007", "", nil},
		tc{"forks repeated limit", http.MethodGet, "/forks?limit=1&limit=2", "", nil},
		tc{"forks bad cursor", http.MethodGet, "/forks?cursor=%zz", "", nil},
		tc{"forks unknown parameter", http.MethodGet, "/forks?x=1", "", nil},
		tc{"checkpoint of a bad hash", http.MethodGet, "/zz/checkpoint", "", nil},
		tc{"checkpoint of an unknown origin", http.MethodGet, originPath("example.com/unknown"), "", nil},
		tc{"checkpoint upper-case hash", http.MethodGet, strings.ToUpper(originPath(testOrigin)), "", nil},
		tc{"DELETE checkpoint", http.MethodDelete, originPath(testOrigin), "", nil},
		tc{"unknown path", http.MethodGet, "/nope", "", nil},
		tc{"NUL in the path", http.MethodGet, "/%00/checkpoint", "", nil},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, w.srv.URL+c.path, bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			r := must(t, do(req))
			if r.code < 400 || r.code >= 500 {
				t.Fatalf("%s, want a 4xx", r)
			}
			if body := strings.TrimSuffix(string(r.body), "\n"); strings.Contains(body, "\n") {
				t.Errorf("reason of %d lines: %q", strings.Count(body, "\n")+1, r.body)
			}
			if size, root := w.state(t, testOrigin); size != size0 || root != root0 {
				t.Fatalf("state changed to %d %x", size, root)
			}
			if n := countKeys(t, w.w, 'f') + countKeys(t, w.w, 's'); n != keys0 || w.w.ForkCount() != forks0 {
				t.Fatalf("store changed: %d keys (was %d), forks %d (was %d)", n, keys0, w.w.ForkCount(), forks0)
			}
		})
	}
	t.Logf("%d cases", len(cases))
	// The witness still works.
	if r := w.post(t, reqBody(10, proof, cp)); r.code != 200 {
		t.Fatalf("a good request after the sweep: %s", r)
	}
}
