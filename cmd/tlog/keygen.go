package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

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
			if err := writeKeyPair(out, skey, vkey); err != nil {
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

// writeKeyPair writes PREFIX.key (0600) and PREFIX.pub, refusing to
// overwrite either.
func writeKeyPair(prefix, skey, vkey string) error {
	if err := writeNew(prefix+".key", skey+"\n", 0o600); err != nil {
		return err
	}
	if err := writeNew(prefix+".pub", vkey+"\n", 0o644); err != nil {
		os.Remove(prefix + ".key")
		return err
	}
	return nil
}

func writeNew(path, content string, mode os.FileMode) error {
	err := writeSynced(path, []byte(content), os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting a key", path)
	}
	return err
}

// writeSynced writes a file (opened with os.O_WRONLY|os.O_CREATE|flag) and
// makes it durable: the file is synced, and so is its directory entry. Keys
// must be on disk before anything is signed with them.
func writeSynced(path string, data []byte, flag int, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory, making the entries created in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
