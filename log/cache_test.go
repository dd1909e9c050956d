package log

import "testing"

// TestTileCacheBytes: the cache holds at most maxBytes of values, evicting
// the least recently used first, and never keeps a value larger than that.
func TestTileCacheBytes(t *testing.T) {
	c := newTileCache(100, 1000)
	for i := range 5 {
		c.put(tileKey{index: uint64(i)}, make([]byte, 300))
	}
	if c.bytes > 1000 || c.order.Len() != 3 {
		t.Fatalf("%d bytes in %d items, want at most 1000 in 3", c.bytes, c.order.Len())
	}
	if _, ok := c.get(tileKey{index: 1}); ok {
		t.Fatal("an evicted tile is still cached")
	}
	if _, ok := c.get(tileKey{index: 4}); !ok {
		t.Fatal("the newest tile was evicted")
	}
	c.put(tileKey{index: 9}, make([]byte, 1001))
	if _, ok := c.get(tileKey{index: 9}); ok || c.order.Len() != 3 {
		t.Fatal("a value larger than the whole cache was kept")
	}
	// The count bound still holds.
	c2 := newTileCache(2, 1<<20)
	for i := range 3 {
		c2.put(tileKey{index: uint64(i)}, []byte{1})
	}
	if c2.order.Len() != 2 || c2.bytes != 2 {
		t.Fatalf("%d items, %d bytes", c2.order.Len(), c2.bytes)
	}
}
