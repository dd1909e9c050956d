package log

import (
	"container/list"
	"sync"
)

// tileCache is a small LRU of full tiles and bundles. Full tiles never
// change, so a cached copy is valid forever. Safe for concurrent use.
type tileCache struct {
	mu       sync.Mutex
	max      int        // most items
	maxBytes int64      // most bytes of values
	bytes    int64      // guarded by mu
	order    *list.List // front: most recently used; values are *cacheItem
	items    map[tileKey]*list.Element
}

type cacheItem struct {
	key tileKey
	val []byte
}

func newTileCache(max int, maxBytes int64) *tileCache {
	return &tileCache{max: max, maxBytes: maxBytes, order: list.New(), items: make(map[tileKey]*list.Element, min(max, 1024))}
}

// get returns a cached tile. The bytes are shared: callers must not modify
// them.
func (c *tileCache) get(k tileKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheItem).val, true
}

func (c *tileCache) put(k tileKey, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	if int64(len(v)) > c.maxBytes {
		return // would evict everything else and still not fit
	}
	c.items[k] = c.order.PushFront(&cacheItem{k, v})
	c.bytes += int64(len(v))
	for c.order.Len() > c.max || c.bytes > c.maxBytes {
		e := c.order.Back()
		c.order.Remove(e)
		it := e.Value.(*cacheItem)
		delete(c.items, it.key)
		c.bytes -= int64(len(it.val))
	}
}
