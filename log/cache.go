package log

import (
	"container/list"
	"sync"
)

// tileCache is a small LRU of full tiles and bundles. Full tiles never
// change, so a cached copy is valid forever. Safe for concurrent use.
type tileCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front: most recently used; values are *cacheItem
	items map[tileKey]*list.Element
}

type cacheItem struct {
	key tileKey
	val []byte
}

func newTileCache(max int) *tileCache {
	return &tileCache{max: max, order: list.New(), items: make(map[tileKey]*list.Element, max)}
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
	c.items[k] = c.order.PushFront(&cacheItem{k, v})
	for c.order.Len() > c.max {
		e := c.order.Back()
		c.order.Remove(e)
		delete(c.items, e.Value.(*cacheItem).key)
	}
}
