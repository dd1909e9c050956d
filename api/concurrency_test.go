package api

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/tlogai/tlog/attest"
)

// Eight clients post overlapping NDJSON batches at once: windows over a
// shared set of records, some batches identical across clients, one record
// twice within each batch, full receipts for half the clients and compact
// ones for the others. Afterwards every distinct record has exactly one
// index, every submission of it got that index, exactly one submission of
// it was not a duplicate, the tree holds exactly the distinct records
// (indices 0…n-1), and each system's search finds exactly its distinct
// records.
func TestDecisionsConcurrentOverlap(t *testing.T) {
	ts := newAIServer(t, nil)
	systems := []string{"sys-a", "sys-b", "sys-c", "sys-d"}
	const universe = 480
	recs := make([]string, universe)
	entries := make([][]byte, universe)
	for i := range recs {
		recs[i] = decisionRecord(systems[i%len(systems)], i)
		_, e, err := attest.ParseDecision([]byte(recs[i]))
		if err != nil {
			t.Fatal(err)
		}
		entries[i] = e
	}
	const clients, batches, perBatch = 8, 4, 90
	// batch returns the record numbers of client c's batch b: a window
	// over the universe (clients c and c+4 send the same batch 0), with
	// its first record repeated at the end.
	batch := func(c, b int) []int {
		start := (c*61 + b*127) % universe
		if b == 0 {
			start = (c % 4) * 97
		}
		var out []int
		for i := 0; i < perBatch; i++ {
			out = append(out, (start+i)%universe)
		}
		return append(out, out[0])
	}

	type result struct {
		rec       int
		index     uint64
		duplicate bool
	}
	results := make([][]result, clients)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := newReceiptChecker(t, ts)
			<-startGate
			for b := 0; b < batches; b++ {
				nums := batch(c, b)
				lines := make([]string, len(nums))
				for i, n := range nums {
					lines[i] = recs[n]
				}
				path, fields := decisionsPath, fullReceiptFields
				if c%2 == 1 {
					path, fields = decisionsPath+"?receipts=compact", compactReceiptFields
				}
				resp, body := ts.post(t, path, "application/x-ndjson", ndjson(lines...))
				if resp.StatusCode != http.StatusOK {
					t.Errorf("client %d batch %d: %d %s", c, b, resp.StatusCode, body)
					return
				}
				rs := ndjsonReceipts(t, resp, body, fields)
				if len(rs) != len(nums) {
					t.Errorf("client %d batch %d: %d receipts for %d records", c, b, len(rs), len(nums))
					return
				}
				for i, r := range rs {
					n := nums[i]
					if c%2 == 0 {
						rc.check(t, r, entries[n])
					} else if leaf := leafHash(entries[n]); !bytes.Equal(r.LeafHash, leaf[:]) {
						t.Errorf("client %d batch %d line %d: leaf hash %x, want %x", c, b, i+1, r.LeafHash, leaf)
					}
					results[c] = append(results[c], result{n, r.Index, r.Duplicate})
				}
				// The repeated line is a duplicate of the batch's first.
				if last := rs[len(rs)-1]; !last.Duplicate || last.Index != rs[0].Index {
					t.Errorf("client %d batch %d: repeated record got index %d duplicate %v, first got %d", c, b, last.Index, last.Duplicate, rs[0].Index)
				}
			}
		}()
	}
	close(startGate)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	indexOf := map[int]uint64{}
	recAt := map[uint64]int{}
	firsts := map[int]int{}
	for c, rs := range results {
		for _, r := range rs {
			if i, ok := indexOf[r.rec]; ok && i != r.index {
				t.Fatalf("record %d got indices %d and %d (client %d)", r.rec, i, r.index, c)
			}
			if n, ok := recAt[r.index]; ok && n != r.rec {
				t.Fatalf("index %d given to records %d and %d", r.index, n, r.rec)
			}
			indexOf[r.rec], recAt[r.index] = r.index, r.rec
			if !r.duplicate {
				firsts[r.rec]++
			}
		}
	}
	distinct := len(indexOf)
	if uint64(distinct) != ts.size() {
		t.Fatalf("%d distinct records, tree size %d", distinct, ts.size())
	}
	for n := range indexOf {
		if firsts[n] != 1 {
			t.Fatalf("record %d was new in %d answers, want exactly 1", n, firsts[n])
		}
	}
	perSystem := map[string]int{}
	for n, i := range indexOf {
		if i >= uint64(distinct) {
			t.Fatalf("index %d in a tree of %d", i, distinct)
		}
		perSystem[systems[n%len(systems)]]++
	}
	// Each index holds its record.
	for i := uint64(0); i < uint64(distinct); i++ {
		var e wireEntry
		ts.getJSON(t, fmt.Sprintf("/api/v1/entries/%d", i), &e, aiEntryFields)
		if !bytes.Equal(e.Entry, entries[recAt[i]]) {
			t.Fatalf("entry %d is not record %d", i, recAt[i])
		}
	}
	for _, s := range systems {
		if got := ts.searchAll(t, "system", s); len(got) != perSystem[s] {
			t.Fatalf("search system=%s: %d results, want %d distinct records", s, len(got), perSystem[s])
		}
	}
	t.Logf("%d distinct records of %d submissions", distinct, clients*batches*(perBatch+1))
}
