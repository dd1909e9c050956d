package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/log"
)

func fsckCmd() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "fsck [--data DIR]",
		Short: "Check a stopped log's store from scratch, offline",
		Long: `Recomputes every leaf and node hash from the stored entries, checks the dedup
index, and checks the root and signature of every kept checkpoint. Prints the
first mismatch with its index and exits 1, or prints a summary and exits 0.
The log must be stopped (fsck takes the store's lock).`,
		Example: "  tlog fsck --data ./data",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			errw := cmd.ErrOrStderr()
			rep, err := log.Fsck(cmd.Context(), log.Config{Dir: filepath.Join(data, storeDir)}, func(done, total uint64) {
				el := time.Since(start)
				rate := float64(done) / el.Seconds()
				eta := time.Duration(float64(total-done)/rate) * time.Second
				fmt.Fprintf(errw, "fsck: %d/%d entries (%.0f%%), %.0f entries/s, ETA %s\n",
					done, total, 100*float64(done)/float64(max(total, 1)), rate, eta.Round(time.Second))
			})
			var fe *log.FsckError
			if errors.As(err, &fe) {
				fmt.Fprintf(errw, "fsck: MISMATCH %v\n", fe)
				return exitError{1}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %s: %d entries, %d node hashes, %d signed checkpoints, %d search index entries and %d blobs verified in %s\n",
				rep.Origin, rep.Size, rep.Nodes, rep.Checkpoints, rep.Terms, rep.Blobs, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "./data", "data directory of the log")
	return cmd
}
