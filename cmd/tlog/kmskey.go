package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	// Vault and OpenBao transit keys (hashivault://, openbao://): the one
	// sigstore provider (v1.10) that signs with Ed25519 keys as checkpoints
	// need. The AWS, Google Cloud and Azure providers are left out (they
	// cannot, and would shadow a plugin for their scheme); see the README,
	// "The log's key in a KMS".
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"

	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/signer"
)

// loadKMSKey returns the signer of --key-ref, the log's key in a KMS (see
// signer.FromKMS). The key's name, the log's origin, is --origin, or for
// an existing store the name of the key the store was created with. The
// KMS key must be that key: a store refuses any other. The verifier key is
// written to DIR/log.pub (and printed) the first time; a DIR/log.pub that
// holds another key means the directory belongs to another log, and is
// refused.
func loadKMSKey(cmd *cobra.Command, f serveFlags, logger *slog.Logger) (*signer.Signer, error) {
	if f.keyFile != "" {
		return nil, errors.New("--key and --key-ref are mutually exclusive: give the log's key as a file (--key) or as a KMS key reference (--key-ref), not both")
	}
	store := filepath.Join(f.data, storeDir)
	name, stored, err := kmsKeyName(store, f.origin)
	if err != nil {
		return nil, err
	}
	s, err := signer.FromKMS(cmd.Context(), name, f.keyRef)
	if err != nil {
		return nil, fmt.Errorf("--key-ref: %w", err)
	}
	vkey := s.VerifierKey()
	if stored != "" && stored != vkey {
		return nil, fmt.Errorf("%s belongs to the log with key %s, but the KMS key %s is %s: refusing to sign this log with another key", store, stored, f.keyRef, vkey)
	}
	pub := filepath.Join(f.data, pubFileName)
	switch b, err := os.ReadFile(pub); {
	case err == nil && strings.TrimSpace(string(b)) != vkey:
		return nil, fmt.Errorf("%s holds the key %s, not the KMS key's %s: this data directory belongs to another log; give the log's own key, or another --data", pub, strings.TrimSpace(string(b)), vkey)
	case errors.Is(err, fs.ErrNotExist):
		if err := keyfile.WriteNew(pub, vkey+"\n", 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "the log's key is the KMS key %s; its public key, written to %s, is:\n%s\n", f.keyRef, pub, vkey)
	case err != nil:
		return nil, err
	}
	if stored == "" {
		logger.Warn("creating a new, empty log; a key must back exactly one log: if this KMS key already signed checkpoints of another store, stop now, this would fork it",
			"store", store, "key_ref", f.keyRef, "vkey", vkey)
	}
	logger.Info("the log's key is in a KMS", "key_ref", f.keyRef, "vkey", vkey)
	return s, nil
}

// kmsKeyName names the KMS key of the log in store: the name of the key an
// existing store was created with (which --origin, if given, must equal),
// else --origin. stored is that store's verifier key, "" for a new log.
func kmsKeyName(store, origin string) (name, stored string, err error) {
	if nonEmptyDir(store) {
		stored, err = log.StoredVerifierKey(log.Config{Dir: store})
		if err != nil {
			return "", "", fmt.Errorf("couldn't read the log key of %s: %w", store, err)
		}
	}
	if stored == "" {
		if origin == "" {
			return "", "", errors.New("--key-ref needs --origin to start a new log: the log's name, which is also its key's name in every checkpoint (for example log.example.com/ai)")
		}
		return origin, "", nil
	}
	v, err := signer.NewVerifier(stored)
	if err != nil {
		return "", "", fmt.Errorf("%s: the stored log key %q: %w", store, stored, err)
	}
	if origin != "" && origin != v.Name() {
		return "", "", fmt.Errorf("--origin %q differs from %q, the name of the log in %s", origin, v.Name(), store)
	}
	return v.Name(), stored, nil
}

// kmsKeygen is tlog keygen --key-ref: it makes no key, but names a KMS key
// for a log and prints its verifier key (and writes it to PREFIX.pub, with
// --out), checking on the way that the key can sign checkpoints.
func kmsKeygen(cmd *cobra.Command, ref, origin, out string) error {
	if origin == "" {
		return errors.New("--origin is required: the log's name, which is also its key's name")
	}
	s, err := signer.FromKMS(cmd.Context(), origin, ref)
	if err != nil {
		return fmt.Errorf("--key-ref: %w", err)
	}
	if out != "" {
		if err := keyfile.WriteNew(out+".pub", s.VerifierKey()+"\n", 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintln(cmd.OutOrStdout(), s.VerifierKey())
	return nil
}
