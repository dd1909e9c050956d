// Command filllog adds N small generated entries to a log's store directly
// (no HTTP), to build large trees for benchmarks quickly. The log must not
// be running. For benchmarks only; see scripts/bench-proofs.
//
//	go run ./internal/tools/filllog DATA_DIR KEY_FILE N
package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/signer"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: filllog DATA_DIR KEY_FILE N")
		os.Exit(2)
	}
	n, err := strconv.ParseUint(os.Args[3], 10, 64)
	if err != nil {
		fail(err)
	}
	skey, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	s, err := signer.NewSigner(string(skey))
	if err != nil {
		fail(err)
	}
	// The layout tlog serve uses: DATA_DIR/store.
	l, err := log.Open(log.Config{Dir: filepath.Join(os.Args[1], "store"), Signer: s})
	if err != nil {
		fail(err)
	}
	for i := l.Published().Size; i < n; {
		var fs []*log.Future
		for ; i < n && len(fs) < 8192; i++ {
			e := make([]byte, 64)
			binary.BigEndian.PutUint64(e, i)
			copy(e[8:], fmt.Sprintf("benchmark entry %d", i))
			fs = append(fs, l.Add(e))
		}
		for _, f := range fs {
			if _, err := f.Wait(context.Background()); err != nil {
				fail(err)
			}
		}
	}
	fmt.Println("size", l.Published().Size)
	if err := l.Close(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "filllog:", err)
	os.Exit(1)
}
