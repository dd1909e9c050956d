// Command tlog runs and uses a transparency log for AI: a C2SP tiled log of
// model release attestations and decision records.
//
// Subcommands: serve (run the log), keygen (make a log key), token (make
// writer tokens), fsck (check a stopped log's store offline); get, prove,
// verify, consistency (entries and proofs); attest, decide, access,
// evaluate, search, decision, audit (AI entries); monitor (follow the log
// for what you watch); mirror (a verified read replica); version. Run "tlog <command>
// --help" for flags.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/internal/buildinfo"
)

// exitError carries a process exit code and a message already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	root := &cobra.Command{
		Use:           "tlog",
		Short:         "A transparency log for AI model releases and decisions",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), keygenCmd(), fsckCmd(), getCmd(), proveCmd(), verifyCmd(), consistencyCmd(),
		attestCmd(), decideCmd(), accessCmd(), evaluateCmd(), searchCmd(), decisionCmd(), auditCmd(), monitorCmd(), mirrorCmd(), publishCmd(), tokenCmd(), buildinfo.Command("tlog"))
	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "tlog:", err)
		os.Exit(1)
	}
}
