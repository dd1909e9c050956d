package log

import (
	"sync"

	"github.com/tlogai/tlog/proofs"
)

// nodeCache is a direct-mapped cache of node hashes for proof serving. A
// node hash never changes once written, so a cached hash is valid forever;
// callers only look up nodes of the published tree. Each slot holds one
// node; a new node evicts whatever shared its slot. Safe for concurrent use.
type nodeCache struct {
	shards [nodeCacheShards]nodeCacheShard
	mask   uint64 // slots per shard - 1
}

const nodeCacheShards = 64

type nodeCacheShard struct {
	mu    sync.Mutex
	slots []nodeSlot
}

type nodeSlot struct {
	key  uint64 // packed (level, index) + 1; 0 means empty
	hash proofs.Hash
}

// newNodeCache makes a cache of at least n slots (rounded up to a power of
// two per shard); n ≤ 0 disables it.
func newNodeCache(n int) *nodeCache {
	if n <= 0 {
		return nil
	}
	per := 1
	for per*nodeCacheShards < n {
		per *= 2
	}
	c := &nodeCache{mask: uint64(per - 1)}
	for i := range c.shards {
		c.shards[i].slots = make([]nodeSlot, per)
	}
	return c
}

// pack maps a node to a cache key: 6 bits of level, 58 of index, plus one
// so that 0 means empty. Nodes beyond that (a tree of 2^58 entries) are not
// cached: ok is false.
func pack(id proofs.NodeID) (key uint64, ok bool) {
	if id.Level >= 64 || id.Index >= 1<<58-1 {
		return 0, false
	}
	return (uint64(id.Level)<<58 | id.Index) + 1, true
}

func (c *nodeCache) locate(key uint64) (*nodeCacheShard, uint64) {
	// Mix the bits so that neighbouring indices and levels spread out.
	h := key * 0x9e3779b97f4a7c15
	return &c.shards[h>>58], (h >> 20) & c.mask
}

func (c *nodeCache) get(id proofs.NodeID) (proofs.Hash, bool) {
	key, ok := pack(id)
	if c == nil || !ok {
		return proofs.Hash{}, false
	}
	s, i := c.locate(key)
	s.mu.Lock()
	slot := s.slots[i]
	s.mu.Unlock()
	return slot.hash, slot.key == key
}

func (c *nodeCache) put(id proofs.NodeID, h []byte) {
	key, ok := pack(id)
	if c == nil || !ok || len(h) != proofs.HashSize {
		return
	}
	s, i := c.locate(key)
	s.mu.Lock()
	s.slots[i].key = key
	copy(s.slots[i].hash[:], h)
	s.mu.Unlock()
}
