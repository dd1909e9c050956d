// Package logtest has helpers for tests that drive a log in-process. For
// tests only.
package logtest

import (
	"context"
	"testing"

	"github.com/tlogai/tlog/log"
)

// AddAll adds entries concurrently, in chunks that fit the default pool,
// so that large trees build in big batches, and fails the test on any
// error. The HTTP path is tested elsewhere.
func AddAll(t testing.TB, l *log.Log, entries [][]byte) {
	t.Helper()
	for len(entries) > 0 {
		chunk := entries[:min(len(entries), 4096)]
		entries = entries[len(chunk):]
		fs := make([]*log.Future, len(chunk))
		for i, e := range chunk {
			fs[i] = l.Add(e)
		}
		for _, f := range fs {
			if _, err := f.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
}
