package log

import "encoding/binary"

// The Pebble key space. Every key starts with a one-byte table prefix;
// integers are big-endian so that keys sort in index order.
//
//	e <index:8>              → entry bytes (1…65,535 bytes)
//	h <level:1> <index:8>    → 32-byte hash of the perfect subtree at that
//	                           level and index (level 0: leaf hashes)
//	d <leaf hash:32>         → index:8, the dedup index
//	c <size:8>               → signed checkpoint note of that size (history)
//	x <len:uvarint> <term> <first:8>
//	                         → postings: entries first, first+Δ1, first+Δ1+Δ2…
//	                           have search term (Search); Δ uvarints > 0,
//	                           empty for first alone (see postings.go)
//	b <sha256:32>            → a blob with that SHA-256 (Blob)
//	m checkpoint             → the latest signed checkpoint note
//	m vkey                   → verifier key of the log's signer
//	m version                → store format version
//	m witnessed              → latest checkpoint cosigned by a witness quorum
//
// One sequencer batch writes e, h, d, x, b for its new entries and m checkpoint
// (plus c, per the history interval) together; see sequencer.integrate.
const (
	prefixEntry      = 'e'
	prefixHash       = 'h'
	prefixDedup      = 'd'
	prefixCheckpoint = 'c'
	prefixMeta       = 'm'
	prefixTerm       = 'x'
	prefixBlob       = 'b'
)

var (
	keyLatest  = []byte("mcheckpoint")
	keyVKey    = []byte("mvkey")
	keyVersion = []byte("mversion")
	// keyWitnessed holds the latest checkpoint with a witness quorum
	// (written by the log's witness collector, see StoreWitnessed).
	keyWitnessed = []byte("mwitnessed")
)

// storeVersion is written at creation and checked on open. Version 2 added
// the search index (x) and blobs (b); version 3 lets one index key list
// every entry of a batch with its term (a version-2 key, with an empty
// value, is the posting of its index alone). Older stores are upgraded in
// place on open (see upgradeStore); older binaries refuse newer stores.
const (
	storeVersion  = "tlog-store-3"
	storeVersion2 = "tlog-store-2"
	storeVersion1 = "tlog-store-1"
)

func entryKey(buf []byte, index uint64) []byte {
	buf = append(buf[:0], prefixEntry)
	return binary.BigEndian.AppendUint64(buf, index)
}

func hashKey(buf []byte, level uint, index uint64) []byte {
	buf = append(buf[:0], prefixHash, byte(level))
	return binary.BigEndian.AppendUint64(buf, index)
}

func dedupKey(buf []byte, leaf *[32]byte) []byte {
	buf = append(buf[:0], prefixDedup)
	return append(buf, leaf[:]...)
}

func checkpointKey(buf []byte, size uint64) []byte {
	buf = append(buf[:0], prefixCheckpoint)
	return binary.BigEndian.AppendUint64(buf, size)
}

// upperBound returns the smallest key greater than every key with the
// given prefix (prefixes here never end in 0xff).
func upperBound(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	end[len(end)-1]++
	return end
}

// termPrefix is the key prefix of every index key of term: the length
// prefix keeps term "ab" from matching the keys of term "a".
func termPrefix(buf, term []byte) []byte {
	buf = append(buf[:0], prefixTerm)
	buf = binary.AppendUvarint(buf, uint64(len(term)))
	return append(buf, term...)
}

func termKey(buf, term []byte, index uint64) []byte {
	buf = termPrefix(buf, term)
	return binary.BigEndian.AppendUint64(buf, index)
}

func blobKey(buf []byte, sum *[32]byte) []byte {
	buf = append(buf[:0], prefixBlob)
	return append(buf, sum[:]...)
}
