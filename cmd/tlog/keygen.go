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
	var origin, out, keyRef string
	cmd := &cobra.Command{
		Use:   "keygen --origin NAME --out PREFIX | --key-ref REF --origin NAME [--out PREFIX]",
		Short: "Make an Ed25519 signed-note key pair for a log",
		Long: `Writes PREFIX.key (the signer key, mode 0600) and PREFIX.pub (the verifier
key) in the standard note key formats, and prints the verifier key. The origin
names the log in its checkpoints; use the log's URL without the scheme, for
example log.example.com/ai. Existing files are never overwritten.

With --key-ref, the key is an Ed25519 key in a KMS (the reference tlog serve
--key-ref takes): nothing is created; the KMS key signs a test message, and its
verifier key under the origin is printed (and written to PREFIX.pub with --out).`,
		Example: "  tlog keygen --origin log.example.com/ai --out ./mylog\n  tlog keygen --key-ref hashivault://tlog-log --origin log.example.com/ai --out ./mylog",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyRef != "" {
				return kmsKeygen(cmd, keyRef, origin, out)
			}
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
	cmd.Flags().StringVar(&out, "out", "", "path prefix of the .key and .pub files (required; with --key-ref, of the .pub file)")
	cmd.Flags().StringVar(&keyRef, "key-ref", "", "KMS key reference (hashivault://NAME, or <plugin>://KEY for a plugin sigstore-kms-<plugin> on PATH): print its verifier key instead of making a key")
	return cmd
}
