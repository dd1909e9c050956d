package main

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/signer"
)

func keygenCmd() *cobra.Command {
	var origin, out string
	cmd := &cobra.Command{
		Use:   "keygen --origin NAME --out PREFIX",
		Short: "Make an Ed25519 signed-note key pair for a log",
		Long: `Writes PREFIX.key (the signer key, mode 0600) and PREFIX.pub (the verifier
key) in the standard note key formats, and prints the verifier key. The origin
names the log in its checkpoints; use the log's URL without the scheme, for
example log.example.com/ai. Existing files are never overwritten.`,
		Example: "  tlog keygen --origin log.example.com/ai --out ./mylog",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if origin == "" || out == "" {
				return errors.New("--origin and --out are required")
			}
			skey, vkey, err := signer.GenerateKey(rand.Reader, origin)
			if err != nil {
				return err
			}
			if err := keyfile.WritePair(out, skey, vkey); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return nil
		},
	}
	cmd.Flags().StringVar(&origin, "origin", "", "log origin, also the key name (required)")
	cmd.Flags().StringVar(&out, "out", "", "path prefix of the .key and .pub files (required)")
	return cmd
}
