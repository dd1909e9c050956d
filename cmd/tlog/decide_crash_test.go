package main

// A bulk "tlog decide" run across a kill -9 of the log: the real binary
// both ways, the server killed in the middle of the run and restarted on
// the same data directory and port. Oracles: the records' canonical
// entries written out by hand (decisionRecord), the entry bundles read
// back through the C2SP tiles, x/mod's note and tlog packages for
// checkpoints and inclusion proofs, and tlog fsck for the store.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// decideCrashTimeout bounds the whole decide run, kill and restart
// included: a failure bound, not synchronisation.
const decideCrashTimeout = time.Minute

// compactReceipt is one line of a ?receipts=compact NDJSON answer.
type compactReceipt struct {
	Index     *uint64 `json:"index"`
	LeafHash  []byte  `json:"leaf_hash"`
	Duplicate bool    `json:"duplicate"`
}

// postDecisionsCompact POSTs records as one NDJSON request with compact
// receipts and returns the receipts, checked against the canonical
// entries: one per record, in order, new, with the entry's leaf hash.
func postDecisionsCompact(t *testing.T, s *server, recs []decisionRec) []uint64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url("/api/v1/decisions?receipts=compact"), bytes.NewReader(ndjson(recs)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s: POST /api/v1/decisions: %v", s.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: POST /api/v1/decisions: %s %v %q", s.name, resp.Status, err, body)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("%s: %d receipt lines for %d records: %q", s.name, len(lines), len(recs), body)
	}
	out := make([]uint64, len(recs))
	for i, line := range lines {
		var r compactReceipt
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil || dec.More() || r.Index == nil {
			t.Fatalf("%s: receipt line %q is not a compact receipt: %v", s.name, line, err)
		}
		if h := tlog.RecordHash([]byte(recs[i].entry)); !bytes.Equal(r.LeafHash, h[:]) || r.Duplicate {
			t.Fatalf("%s: receipt %d: leaf hash %x duplicate %v; want %x of the canonical entry, new", s.name, i, r.LeafHash, r.Duplicate, h)
		}
		out[i] = *r.Index
	}
	return out
}

// checkLoggedEntry GETs /api/v1/entries/<index> and checks that it holds
// exactly the canonical entry, with an inclusion proof that x/mod accepts
// against the signed checkpoint that comes with it.
func checkLoggedEntry(t *testing.T, s *server, index uint64, want string) {
	t.Helper()
	code, body, _, err := s.get("/api/v1/entries/" + strconv.FormatUint(index, 10))
	if err != nil || code != http.StatusOK {
		t.Errorf("%s: GET /api/v1/entries/%d: %d %v %q", s.name, index, code, err, body)
		return
	}
	var e struct {
		Index          uint64          `json:"index"`
		LeafHash       []byte          `json:"leaf_hash"`
		Entry          []byte          `json:"entry"`
		Record         json.RawMessage `json:"record"`
		InclusionProof struct {
			Index      uint64   `json:"index"`
			TreeSize   int64    `json:"tree_size"`
			LeafHash   []byte   `json:"leaf_hash"`
			Hashes     [][]byte `json:"hashes"`
			Checkpoint string   `json:"checkpoint"`
		} `json:"inclusion_proof"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Errorf("%s: GET /api/v1/entries/%d: %v: %q", s.name, index, err, body)
		return
	}
	h := tlog.RecordHash([]byte(want))
	if e.Index != index || string(e.Entry) != want || string(e.Record) != want || !bytes.Equal(e.LeafHash, h[:]) {
		t.Errorf("%s: GET /api/v1/entries/%d: index %d, entry\n%s\nrecord\n%s\nleaf hash %x; want the acknowledged entry\n%s\n(leaf hash %x)",
			s.name, index, e.Index, e.Entry, e.Record, e.LeafHash, want, h)
		return
	}
	cp, err := openCheckpoint([]byte(e.InclusionProof.Checkpoint), s.vkey)
	if err != nil {
		t.Errorf("%s: entry %d: %v", s.name, index, err)
		return
	}
	var rp tlog.RecordProof
	for _, x := range e.InclusionProof.Hashes {
		rp = append(rp, tlog.Hash(x))
	}
	if e.InclusionProof.Index != index || e.InclusionProof.TreeSize != cp.size {
		t.Errorf("%s: entry %d: inclusion proof of index %d in size %d, with a checkpoint of size %d", s.name, index, e.InclusionProof.Index, e.InclusionProof.TreeSize, cp.size)
	} else if err := tlog.CheckRecord(rp, cp.size, cp.root, int64(index), h); err != nil {
		t.Errorf("%s: entry %d: x/mod rejects the inclusion proof: %v", s.name, index, err)
	}
}

func TestDecideSurvivesKill(t *testing.T) {
	quickRaceExit(t)
	n, killAt := 60000, int64(10000)
	if raceEnabled {
		// A race-instrumented server is several times slower.
		n, killAt = 20000, 4000
	}
	start := time.Now()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	recs := decisionRecords("kill9", n)
	early := []decisionRec{decisionRecord("kill9-early", 0), decisionRecord("kill9-early", 1), decisionRecord("kill9-early", 2)}
	late := []decisionRec{decisionRecord("kill9-late", 0), decisionRecord("kill9-late", 1), decisionRecord("kill9-late", 2)}
	all := slices.Concat(recs, early, late)
	want := make(map[string]string, len(all)) // canonical entry → system
	wantTerms := 0                            // search index entries: system, model, and the model digest if any
	for _, r := range all {
		if _, dup := want[r.entry]; dup {
			t.Fatalf("the generator made the same entry twice:\n%s", r.entry)
		}
		want[r.entry] = r.system
		wantTerms += 2
		if strings.Contains(r.entry, `"model":{"digest":`) {
			wantTerms++
		}
	}
	file := filepath.Join(dir, "decisions.ndjson")
	if err := os.WriteFile(file, ndjson(recs), 0o644); err != nil {
		t.Fatal(err)
	}

	// A fixed port, so that the restarted server has the same URL.
	listen := closedAddr(t)
	logURL := "http://" + listen
	flags := []string{"--origin", aiOrigin, "--listen", listen, "--batch-size", "512", "--checkpoint-history", "0"}
	s1 := startServer(t, "before the kill", data, flags...)
	if s1.addr != listen {
		t.Fatalf("%s: listening on %s, want %s", s1.name, s1.addr, listen)
	}
	vkey := s1.vkey
	earlyIdx := postDecisionsCompact(t, s1, early)
	if !slices.Equal(earlyIdx, []uint64{0, 1, 2}) {
		t.Errorf("the first records of a new log got indices %v, want [0 1 2]", earlyIdx)
	}

	// decide in the background.
	dec := exec.Command(tlogBin, "decide", "--log", logURL, "--file", file, "--batch", "1000", "--parallel", "4")
	dec.Env = childEnv()
	decOut, decErr := new(lockedBuffer), new(lockedBuffer)
	dec.Stdout, dec.Stderr = decOut, decErr
	if err := dec.Start(); err != nil {
		t.Fatal(err)
	}
	decDone := make(chan struct{})
	go func() {
		dec.Wait() // the exit status is in ProcessState
		close(decDone)
	}()
	t.Cleanup(func() {
		select {
		case <-decDone:
		default:
			dec.Process.Signal(syscall.SIGKILL)
			<-decDone
		}
	})
	decideExited := func() bool {
		select {
		case <-decDone:
			return true
		default:
			return false
		}
	}

	// Kill the server once the tree has grown past killAt.
	var seen int64 // the largest tree size served before the kill
	deadline := time.Now().Add(decideCrashTimeout)
	for seen <= killAt {
		if decideExited() {
			t.Fatalf("decide exited (%v) before the tree reached %d (largest size seen %d): the kill would come too late; stderr:\n%s",
				dec.ProcessState, killAt, seen, decErr.String())
		}
		if s1.exitedEarly() {
			t.Fatalf("%s: the server exited on its own: %v", s1.name, s1.state)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tree did not grow past %d within %v (largest size seen %d); decide stderr:\n%s", killAt, decideCrashTimeout, seen, decErr.String())
		}
		if cp, err := s1.fetchCheckpoint(vkey); err != nil {
			t.Fatalf("%s: %v", s1.name, err)
		} else {
			seen = max(seen, cp.size)
		}
		time.Sleep(2 * time.Millisecond) // polling the tree size
	}
	// Three more records acknowledged right before the kill, while decide's
	// requests are in flight.
	lateIdx := postDecisionsCompact(t, s1, late)
	if err := s1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, ok := s1.waitExit(exitTimeout); !ok {
		t.Fatalf("%s: still running %v after SIGKILL", s1.name, exitTimeout)
	}
	s1.checkNoRace()
	if decideExited() {
		t.Fatalf("decide had finished (%v) when the server was killed at size ≥ %d: the kill proves nothing; stderr:\n%s", dec.ProcessState, seen, decErr.String())
	}
	t.Logf("killed the server at tree size ≥ %d (%v after the start), with decide running; the last records acknowledged before the kill are at %v", seen, time.Since(start).Round(time.Millisecond), lateIdx)

	killed := time.Now()
	time.Sleep(200 * time.Millisecond) // the outage: decide meets refused connections
	s2 := startServer(t, "after the kill", data, flags...)
	if s2.addr != listen || s2.vkey != vkey {
		t.Fatalf("%s: listening on %s with key %q; want %s with %q", s2.name, s2.addr, s2.vkey, listen, vkey)
	}
	t.Logf("the server listened again %v after the kill", time.Since(killed).Round(time.Millisecond))
	// Everything served or acknowledged before the kill survived it.
	if cp := s2.mustCheckpoint(vkey); cp.size < seen {
		t.Errorf("%s: tree size %d after the restart, but size %d was served before the kill", s2.name, cp.size, seen)
	}
	for i, idx := range earlyIdx {
		checkLoggedEntry(t, s2, idx, early[i].entry)
	}
	for i, idx := range lateIdx {
		checkLoggedEntry(t, s2, idx, late[i].entry)
	}

	// decide rides out the kill with its retries, or, failing that, a
	// second run resumes it.
	select {
	case <-decDone:
	case <-time.After(decideCrashTimeout):
		t.Fatalf("decide still running %v after the restart; stderr:\n%s", decideCrashTimeout, decErr.String())
	}
	first := result{code: dec.ProcessState.ExitCode(), stdout: decOut.String(), stderr: decErr.String()}
	if strings.Contains(first.stderr, "DATA RACE") {
		t.Errorf("decide: the race detector reported a data race:\n%s", first.stderr)
	}
	checkNoPanic(t, "decide across the kill", first)
	if first.code == 0 {
		s := parseSummary(t, "decide across the kill", first)
		if s.records != int64(n) || s.fresh+s.dups != int64(n) {
			t.Errorf("decide across the kill: summary says %d records (%d new, %d already logged); want %d records", s.records, s.fresh, s.dups, n)
		}
		t.Logf("decide rode out the kill without a rerun: %s (the already logged ones were committed before the kill, their answers lost)", strings.TrimSpace(first.stderr))
	} else {
		t.Logf("decide did NOT ride out the kill: exit %d; stderr:\n%s", first.code, first.stderr)
		if !strings.Contains(first.stderr, "run the same command again to resume") {
			t.Errorf("decide across the kill: exit %d without the resume advice", first.code)
		}
		r := runTlogFor(t, decideCrashTimeout, nil, "decide", "--log", logURL, "--file", file, "--batch", "1000", "--parallel", "4")
		expectOK(t, "decide rerun after the kill", r)
		s := parseSummary(t, "decide rerun after the kill", r)
		if s.records != int64(n) || s.fresh+s.dups != int64(n) {
			t.Errorf("decide rerun: summary says %d records (%d new, %d already logged); want %d records", s.records, s.fresh, s.dups, n)
		}
		t.Logf("decide needed the rerun: %s", strings.TrimSpace(r.stderr))
	}
	t.Logf("decide done %v after the start", time.Since(start).Round(time.Millisecond))

	// Exactly the records, each once: nothing lost, nothing twice.
	size := s2.mustCheckpoint(vkey).size
	if size != int64(len(all)) {
		t.Errorf("tree size %d, want %d: the %d decide records and the %d posted by hand, each once", size, len(all), n, len(early)+len(late))
	}
	// Run again: every record is already logged.
	expectSummary(t, "decide after the kill, once more", runTlogFor(t, decideCrashTimeout, nil, "decide", "--log", logURL, "--file", file, "--batch", "1000", "--parallel", "4"), int64(n), 0, int64(n))
	if got := s2.mustCheckpoint(vkey).size; got != size {
		t.Errorf("tree size %d after a rerun of decide, was %d", got, size)
	}

	// The entry bundles hold exactly the canonical entries, each once.
	entries, err := readEntries(s2, size)
	if err != nil {
		t.Fatalf("%s: reading the entry bundles: %v", s2.name, err)
	}
	bySystem := map[string][]int64{}
	at := make(map[string]int, len(entries))
	bad := 0
	for i, e := range entries {
		sys, ok := want[string(e)]
		switch prev, twice := at[string(e)]; {
		case !ok:
			t.Errorf("entry %d is none of the records' canonical entries:\n%s", i, e)
		case twice:
			t.Errorf("entry %d is the entry already logged at %d:\n%s", i, prev, e)
		default:
			at[string(e)] = i
			bySystem[sys] = append(bySystem[sys], int64(i))
			continue
		}
		if bad++; bad > 10 {
			t.FailNow()
		}
	}
	if missing := len(want) - len(at); missing != 0 {
		t.Errorf("%d records are not in the log", missing)
	}
	for i, idx := range slices.Concat(earlyIdx, lateIdx) {
		if r := slices.Concat(early, late)[i]; at[r.entry] != int(idx) {
			t.Errorf("the record acknowledged at %d is at index %d of the entry bundles", idx, at[r.entry])
		}
	}

	// The search index agrees: each system's entries, once, newest first.
	l := &aiLog{t: t, s: s2, dir: dir, data: data, pub: filepath.Join(data, pubFileName)}
	for _, sys := range decisionSystems {
		got := searchIndices(t, l, "--system", sys, "--all", "--limit", "1000")
		wantIdx := slices.Clone(bySystem[sys])
		slices.Reverse(wantIdx)
		if !slices.Equal(got, wantIdx) {
			t.Errorf("tlog search --system %s --all: %d indices, want %d (the entries of that system, newest first)", sys, len(got), len(wantIdx))
		}
	}

	if code := s2.stop(); code != 0 {
		t.Errorf("%s: exit %d after SIGTERM", s2.name, code)
	}
	s2.checkNoRace()
	r := runTlogFor(t, decideCrashTimeout, nil, "fsck", "--data", data)
	expectOK(t, "fsck after the kill", r)
	m := regexp.MustCompile(`^ok: (\S+): (\d+) entries, \d+ node hashes, (\d+) signed checkpoints, (\d+) search index entries and (\d+) blobs verified in \S+\n$`).FindStringSubmatch(r.stdout)
	switch {
	case m == nil:
		logResult(t, "fsck after the kill", r)
		t.Errorf("fsck: stdout %q is not the summary line with the search index and blob counts", r.stdout)
	case m[1] != aiOrigin || m[2] != strconv.FormatInt(size, 10) || m[4] != strconv.Itoa(wantTerms) || m[5] != "0":
		t.Errorf("fsck: %q; want origin %s, %d entries, %d search index entries (one per term of each record, none twice) and 0 blobs", strings.TrimSpace(r.stdout), aiOrigin, size, wantTerms)
	}
	t.Logf("%s (whole test %v)", strings.TrimSpace(r.stdout), time.Since(start).Round(time.Millisecond))
}
