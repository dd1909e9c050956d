package log

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/tlogai/tlog/proofs"
)

func nodeHash(id proofs.NodeID) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(id.Level))
	binary.BigEndian.PutUint64(b[8:], id.Index)
	h := sha256.Sum256(b[:])
	return h[:]
}

// A cache far smaller than the nodes put in it never returns a wrong hash:
// a hit is always the hash put for that very node, under concurrency too.
func TestNodeCacheNeverAliases(t *testing.T) {
	c := newNodeCache(256)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				id := proofs.NodeID{Level: uint(i % 3), Index: uint64(i/3+w) % 400}
				if h, ok := c.get(id); ok {
					if string(h[:]) != string(nodeHash(id)) {
						t.Errorf("node %d/%d: cached hash of another node", id.Level, id.Index)
						return
					}
				}
				c.put(id, nodeHash(id))
			}
		}()
	}
	wg.Wait()
	// Alone, a node just put is a hit (whether the concurrent phase hit
	// depends on scheduling, so it is not asserted).
	for i := uint64(0); i < 1000; i++ {
		id := proofs.NodeID{Level: uint(i % 5), Index: i * 7919}
		c.put(id, nodeHash(id))
		if h, ok := c.get(id); !ok || string(h[:]) != string(nodeHash(id)) {
			t.Fatalf("node %d/%d: not the hash just put (hit %v)", id.Level, id.Index, ok)
		}
	}
	// Nodes beyond the packable range are never cached.
	far := proofs.NodeID{Level: 0, Index: 1<<58 - 1}
	c.put(far, nodeHash(far))
	if _, ok := c.get(far); ok {
		t.Fatal("a node beyond 2^58 was cached")
	}
	var off *nodeCache // a disabled cache
	off.put(far, nodeHash(far))
	if _, ok := off.get(proofs.NodeID{}); ok {
		t.Fatal("disabled cache hit")
	}
}
