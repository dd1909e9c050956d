package main

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/client"
	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/proofs"
	"github.com/tlogai/tlog/signer"
	"github.com/tlogai/tlog/wire"
)

func getCmd() *cobra.Command {
	var logURL, keyFile, out string
	cmd := &cobra.Command{
		Use:   "get --log URL [--key LOG.pub] [--out FILE] INDEX",
		Short: "Fetch an entry and its inclusion proof",
		Long: `Prints the entry at INDEX (as text when it is printable UTF-8, else base64) with its
leaf hash and the size of the tree its proof is for. The inclusion proof is
always checked against the root of the checkpoint that comes with it; with
--key, the checkpoint's signature is checked too. --out writes the entry's
exact bytes to FILE.`,
		Example: "  tlog get --log http://127.0.0.1:8080 --key log.pub --out entry.bin 42",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(logURL, keyFile)
			if err != nil {
				return err
			}
			index, err := signer.ParseDecimal(args[0])
			if err != nil {
				return fmt.Errorf("INDEX: %w", err)
			}
			e, err := c.Entry(cmd.Context(), index)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "index: %d\nleaf hash: %x\n", e.Index, e.LeafHash) // computed here, not taken from the log
			if e.Verified {
				fmt.Fprintf(w, "verified: in tree of size %d signed by %s\n", e.Checkpoint.Size, e.Checkpoint.Origin)
			} else {
				fmt.Fprintf(w, "included in tree of size %d (signature not checked: no --key)\n", e.Checkpoint.Size)
			}
			if printable(e.Data) {
				fmt.Fprintf(w, "entry (%d bytes, text):\n%s\n", len(e.Data), e.Data)
			} else {
				fmt.Fprintf(w, "entry (%d bytes, base64):\n%s\n", len(e.Data), base64.StdEncoding.EncodeToString(e.Data))
			}
			if out != "" {
				return os.WriteFile(out, e.Data, 0o644)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&logURL, "log", "", "log URL, e.g. http://127.0.0.1:8080 (required)")
	cmd.Flags().StringVar(&keyFile, "key", "", "log verifier key file; checks the checkpoint's signature")
	cmd.Flags().StringVar(&out, "out", "", "write the entry's bytes to this file")
	return cmd
}

func proveCmd() *cobra.Command {
	var (
		logURL, keyFile, leafFile, out string
		index                          int64
	)
	cmd := &cobra.Command{
		Use:   "prove --log URL (--index N | --leaf FILE) [--key LOG.pub] [--out FILE]",
		Short: "Fetch an offline proof (c2sp.org/tlog-proof) for an entry",
		Long: `Writes the c2sp.org/tlog-proof@v1 file of an entry against the log's latest
checkpoint: the index, the inclusion proof and the signed checkpoint. Give
the index, or the entry's file (--leaf) to find it by content. The proof is
checked before it is written (its signature too with --key). Ship the file
beside the entry; anyone verifies it offline with tlog verify.`,
		Example: `  tlog prove --log http://127.0.0.1:8080 --index 42 > entry.tlog-proof
  tlog prove --log http://127.0.0.1:8080 --leaf release.json --key log.pub --out release.tlog-proof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(logURL, keyFile)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var e *client.Entry
			switch {
			case (index >= 0) == (leafFile != ""):
				return errors.New("give exactly one of --index N and --leaf FILE")
			case index >= 0:
				if e, err = c.ProveIndex(ctx, uint64(index)); err != nil {
					return err
				}
			default:
				entry, err := os.ReadFile(leafFile)
				if err != nil {
					return err
				}
				if e, err = c.Prove(ctx, entry); err != nil {
					return err
				}
			}
			file := e.TlogProof()
			if out != "" {
				if err := os.WriteFile(out, file, 0o644); err != nil {
					return err
				}
			} else if _, err := cmd.OutOrStdout().Write(file); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "proof of index %d in tree of size %d\n", e.Index, e.Checkpoint.Size)
			return nil
		},
	}
	cmd.Flags().StringVar(&logURL, "log", "", "log URL (required)")
	cmd.Flags().Int64Var(&index, "index", -1, "index of the entry")
	cmd.Flags().StringVar(&leafFile, "leaf", "", "file holding the entry's exact bytes, to find it by content")
	cmd.Flags().StringVar(&keyFile, "key", "", "log verifier key file; checks the checkpoint's signature")
	cmd.Flags().StringVar(&out, "out", "", "write the proof here instead of standard output")
	return cmd
}

// printable reports whether b is UTF-8 text safe to print on a terminal:
// no control characters but newline and tab (an entry is untrusted input,
// and escape sequences could rewrite what the terminal shows).
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

func verifyCmd() *cobra.Command {
	var keyFile, policyFile, entryFile, proofFile, receiptFile, attestation, publisherKey, certificate string
	var trustedRootFile, modelPath string
	var idFlags identityFlags
	cmd := &cobra.Command{
		Use:   "verify (--key LOG.pub | --policy FILE) ((--entry FILE | --attestation FILE [--publisher-key PEM]) --proof FILE.tlog-proof | --receipt FILE.json)",
		Short: "Verify an offline proof, with no network",
		Long: `Checks that FILE is in the log: the proof's checkpoint must be signed by the
log's key (--key), or by a log of a c2sp.org/tlog-policy file and cosigned by
its witness quorum (--policy), and its inclusion proof must lead from the
entry's hash to the checkpoint's root. Prints one line and exits 0 when it
is, prints the reason and exits 1 when it is not.

With --attestation (a Sigstore bundle or a DSSE envelope, as given to tlog
attest) instead of --entry, it first re-checks the publisher's signature
(with --publisher-key, or the bundle's certificate) and rebuilds the log
entry from the envelope exactly as the log does, so a pass means: this
signed release is the one in the log.

A certificate-signed (keyless) attestation: with --trusted-root (a Sigstore
trusted_root.json), its certificate is validated offline by the log's rules
(chain to a trusted Fulcio CA, valid at a verified timestamp of the bundle;
a bundle without one was checked by the log's clock at admission, so its
chain is checked at the certificate's start); without, it is printed with a
warning. --certificate-identity and --certificate-oidc-issuer (or their
-regexp forms, Go regular expressions matching the whole value) require
the certificate's identity and issuer, and the log entry to name them.

With --model PATH (a model-signing release), the model's files are hashed
as model-signing does and must be exactly the ones the release names, with
the same digests; the first file that differs, is missing or is extra is
named.

With --receipt, the JSON receipt a submission answered (as the API returns
it, one receipt: tlog decide --receipts writes one per line) supplies both
the entry and its proof.`,
		Example: `  tlog verify --key log.pub --entry release.json --proof release.tlog-proof
  tlog verify --policy policy.txt --entry release.json --proof release.tlog-proof
  tlog verify --key log.pub --attestation model.sig --publisher-key publisher.pub --proof model.tlog-proof
  tlog verify --key log.pub --attestation model.sigstore.json --proof model.tlog-proof --trusted-root trusted_root.json \
    --certificate-identity release-bot@acme.example --certificate-oidc-issuer https://accounts.google.com
  tlog verify --key log.pub --attestation model.sig --publisher-key publisher.pub --proof model.tlog-proof --model ./acme-llm
  tlog verify --key log.pub --receipt receipt.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var open func([]byte) (signer.Checkpoint, *signer.Note, error)
			var policy *signer.Policy
			switch {
			case (keyFile == "") == (policyFile == ""):
				return errors.New("give exactly one of --key LOG.pub and --policy FILE")
			case keyFile != "":
				v, err := readVerifier(keyFile)
				if err != nil {
					return err
				}
				open = func(note []byte) (signer.Checkpoint, *signer.Note, error) { return signer.OpenCheckpoint(note, v) }
			default:
				b, err := os.ReadFile(policyFile)
				if err != nil {
					return err
				}
				p, err := signer.ParsePolicy(b)
				if err != nil {
					return fmt.Errorf("%s: %w", policyFile, err)
				}
				open, policy = p.Check, p
			}
			var entry, file []byte
			switch {
			case receiptFile != "":
				if entryFile != "" || proofFile != "" {
					return errors.New("--receipt carries the entry and its proof: give it without --entry and --proof")
				}
				var err error
				if entry, file, err = readReceipt(receiptFile); err != nil {
					return err
				}
			case (entryFile == "") == (attestation == "") || proofFile == "":
				return errors.New("--proof and one of --entry and --attestation are required (or --receipt alone)")
			}
			if err := idFlags.validate(); err != nil {
				return err
			}
			if modelPath != "" && attestation == "" {
				return errors.New("--model goes with --attestation (a model-signing release)")
			}
			if idFlags.given() && attestation == "" {
				return errors.New("--certificate-identity and --certificate-oidc-issuer go with --attestation")
			}
			var tr *root.TrustedRoot
			if trustedRootFile != "" {
				if attestation == "" {
					return errors.New("--trusted-root goes with --attestation")
				}
				var err error
				if tr, err = loadTrustedRoot(trustedRootFile); err != nil {
					return err
				}
			}
			var rel *attest.Release
			var legacy []byte // the key-only entry of a certificate-signed release
			switch {
			case receiptFile != "":
				if attestation != "" {
					return errors.New("give --attestation with --proof, not with --receipt")
				}
			case attestation != "":
				bundleFile, envFile, err := detectAttestation(attestation)
				if err != nil {
					return err
				}
				sub, err := readSubmission(bundleFile, envFile, publisherKey, certificate)
				if err != nil {
					return err
				}
				if rel, err = attest.Admit(sub, nil, proofs.MaxEntrySize); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "not verified: %s: %v\n", filepath.Base(attestation), err)
					return exitError{1}
				}
				if rel.Certificate != nil {
					// The entry a log with a trusted root made names the
					// identity; one that accepted the certificate unverified
					// names only the key.
					opts := attest.AdmitOptions{MaxEntry: proofs.MaxEntrySize, UnvalidatedIdentity: true}
					if tr != nil {
						opts = attest.AdmitOptions{MaxEntry: proofs.MaxEntrySize, TrustedRoot: tr, Offline: true}
					}
					keyless, err := attest.AdmitWith(sub, opts)
					switch {
					case err == nil:
						legacy = rel.Entry
						rel = keyless
					case tr != nil || idFlags.given():
						fmt.Fprintf(cmd.ErrOrStderr(), "not verified: %s: %v\n", filepath.Base(attestation), err)
						return exitError{1}
					}
				}
				if idFlags.given() {
					if err := idFlags.check(rel); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "not verified: %s: %v\n", filepath.Base(attestation), err)
						return exitError{1}
					}
				}
				entry = rel.Entry
			default:
				var err error
				if entry, err = os.ReadFile(entryFile); err != nil {
					return err
				}
			}
			if file == nil {
				var err error
				if file, err = readProofFile(proofFile); err != nil {
					return err
				}
			}
			vp, err := proofs.VerifyTlogProofWith(file, entry, open)
			if err != nil && legacy != nil && !idFlags.given() && tr == nil {
				// A log accepting unverified certificates logged the
				// key-only entry.
				if vp2, err2 := proofs.VerifyTlogProofWith(file, legacy, open); err2 == nil {
					vp, err, rel.Identity = vp2, nil, nil
				}
			}
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "not verified: %s: %v\n", filepath.Base(proofFile+receiptFile), err)
				return exitError{1}
			}
			line := fmt.Sprintf("verified: index %d in tree of size %d signed by %s", vp.Index, vp.Checkpoint.Size, vp.Checkpoint.Origin)
			if policyFile != "" {
				line += fmt.Sprintf(" and cosigned by a witness quorum (%d cosignatures)", len(vp.Note.Sigs)-1)
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			fmt.Fprintln(cmd.OutOrStdout(), timeBound(vp.Note, policy))
			if rel != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "publisher signature: verified with %s\n", rel.Signer)
				switch id := rel.Identity; {
				case id != nil && id.Validated:
					fmt.Fprintf(cmd.OutOrStdout(), "certificate: verified against the trusted root: identity %s, issuer %s, time source %s\n",
						strconv.Quote(id.Identity), strconv.Quote(id.Issuer), id.TimeSource)
				case rel.Certificate != nil:
					fmt.Fprintf(cmd.OutOrStdout(), "certificate: %s\n", certificateIdentity(rel.Certificate))
					if id != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "entry identity: %s, issuer %s, time source %s\n", strconv.Quote(id.Identity), strconv.Quote(id.Issuer), id.TimeSource)
						fmt.Fprintln(cmd.ErrOrStderr(), "warning: the certificate was validated by the log when it admitted the release, not here: give --trusted-root to check it yourself")
					} else {
						fmt.Fprintln(cmd.ErrOrStderr(), "warning: the certificate was not validated against any trust root: check its issuer and identity yourself, give --trusted-root, or verify with --publisher-key")
					}
				}
				for _, s := range rel.Subjects {
					fmt.Fprintf(cmd.OutOrStdout(), "subject: %s\n", s)
				}
			}
			if modelPath != "" {
				if err := checkModel(cmd.OutOrStdout(), rel, modelPath, attestation); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "not verified: %v\n", err)
					return exitError{1}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&attestation, "attestation", "", "a Sigstore bundle or DSSE envelope: check its signature and that the log entry is exactly this attestation's")
	cmd.Flags().StringVar(&publisherKey, "publisher-key", "", "publisher's public key (PEM), for --attestation without a certificate")
	cmd.Flags().StringVar(&certificate, "certificate", "", "publisher's certificate (PEM), for a bare envelope given to --attestation")
	cmd.Flags().StringVar(&modelPath, "model", "", "a local copy of the model (file or directory): recompute its digests as model-signing does and require exactly the files the release names")
	cmd.Flags().StringVar(&trustedRootFile, "trusted-root", "", "Sigstore trusted_root.json: validate the --attestation's certificate offline")
	cmd.Flags().StringVar(&idFlags.identity, "certificate-identity", "", "require the certificate's identity (subject alternative name) to be exactly this, and the entry to name it")
	cmd.Flags().StringVar(&idFlags.identityRE, "certificate-identity-regexp", "", "require the certificate's identity to match this Go regular expression (whole value)")
	cmd.Flags().StringVar(&idFlags.issuer, "certificate-oidc-issuer", "", "require the certificate's OIDC issuer to be exactly this")
	cmd.Flags().StringVar(&idFlags.issuerRE, "certificate-oidc-issuer-regexp", "", "require the certificate's OIDC issuer to match this Go regular expression (whole value)")
	cmd.Flags().StringVar(&keyFile, "key", "", "log verifier key file")
	cmd.Flags().StringVar(&policyFile, "policy", "", "c2sp.org/tlog-policy file: requires the log's signature and the witness quorum")
	cmd.Flags().StringVar(&entryFile, "entry", "", "file holding the entry's exact bytes (required)")
	cmd.Flags().StringVar(&proofFile, "proof", "", "the tlog-proof file (required, but with --receipt)")
	cmd.Flags().StringVar(&receiptFile, "receipt", "", "a JSON receipt as the log's API answers it: its entry and tlog_proof are verified")
	return cmd
}

func consistencyCmd() *cobra.Command {
	var logURL, keyFile, since string
	var update bool
	cmd := &cobra.Command{
		Use:   "consistency --log URL --key LOG.pub --since CHECKPOINT_FILE [--update]",
		Short: "Check that the log only appended since a checkpoint you kept",
		Long: `Fetches the log's latest checkpoint and a consistency proof from the
checkpoint in CHECKPOINT_FILE, verifies both signatures and the proof, and
prints the new checkpoint. Exits 1 (and prints INCONSISTENT with both
checkpoints, the evidence) if the log rewrote or shrank its history, 2 if it
could not check (log unreachable, error answer). With --update, the new checkpoint replaces CHECKPOINT_FILE (atomically) once
verified, so a cron job keeps its own chain of checkpoints.`,
		Example: `  curl -s http://127.0.0.1:8080/checkpoint > seen.checkpoint
  tlog consistency --log http://127.0.0.1:8080 --key log.pub --since seen.checkpoint --update`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := readVerifier(keyFile)
			if err != nil {
				return err
			}
			c, err := newClient(logURL, keyFile)
			if err != nil {
				return err
			}
			if since == "" {
				return errors.New("--since CHECKPOINT_FILE is required")
			}
			oldNote, err := os.ReadFile(since)
			if err != nil {
				return err
			}
			if bytes.HasPrefix(oldNote, []byte(proofs.TlogProofHeader+"\n")) {
				return fmt.Errorf("%s is a tlog-proof file; --since wants a signed checkpoint of the log (as GET /checkpoint serves it, e.g. curl -s %s/checkpoint > seen.checkpoint)", since, c.URL())
			}
			old, _, err := signer.OpenCheckpoint(oldNote, v)
			if err != nil {
				return fmt.Errorf("%s: %w", since, err)
			}
			cur, newNote, err := c.Consistent(cmd.Context(), oldNote)
			if err != nil {
				var inc *client.InconsistentError
				if !errors.As(err, &inc) {
					// Not evidence of a fork: say so, with its own exit code.
					fmt.Fprintf(cmd.ErrOrStderr(), "couldn't check consistency: %v\n", err)
					return exitError{2}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "INCONSISTENT: %s\nkept checkpoint:\n%s\nlog's checkpoint:\n%s", inc.Reason, inc.Kept, inc.Seen)
				return exitError{1}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "consistent: tree size %d → %d\n", old.Size, cur.Size)
			if update {
				if err := keyfile.Replace(since, newNote); err != nil {
					return err
				}
			}
			_, err = cmd.OutOrStdout().Write(newNote)
			return err
		},
	}
	cmd.Flags().StringVar(&logURL, "log", "", "log URL (required)")
	cmd.Flags().StringVar(&keyFile, "key", "", "log verifier key file (required)")
	cmd.Flags().StringVar(&since, "since", "", "file holding a signed checkpoint of this log seen before (required)")
	cmd.Flags().BoolVar(&update, "update", false, "replace the --since file with the new checkpoint once verified")
	return cmd
}

// timeBound is the line saying what time a verified checkpoint note
// proves for its entries: the earliest cosignature by a witness of policy
// that verifies, or that only the writer vouches for the time.
func timeBound(n *signer.Note, policy *signer.Policy) string {
	if t, w, ok := signer.EarliestCosignature(n, policy); ok {
		return fmt.Sprintf("logged no later than %s (the earliest witness cosignature on a checkpoint that includes it, by %s)", t.Format(time.RFC3339), w)
	}
	if policy == nil {
		return "time: only the writer vouches for the entry's time (no witness policy given: give --policy to check witness cosignatures)"
	}
	return "time: only the writer vouches for the entry's time (no witness cosignature)"
}

// readProofFile reads a tlog-proof file. Blank lines after its end are
// dropped: "jq -r .tlog_proof" adds a newline to the one the file ends
// with.
func readProofFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return trimBlankTail(b), nil
}

func trimBlankTail(b []byte) []byte {
	for bytes.HasSuffix(b, []byte("\n\n")) {
		b = b[:len(b)-1]
	}
	return b
}

// readReceipt reads a JSON receipt (wire.Receipt) and returns its entry
// and tlog-proof file.
func readReceipt(path string) (entry, proof []byte, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var r wire.Receipt
	if err := json.Unmarshal(bytes.TrimSpace(b), &r); err != nil {
		return nil, nil, fmt.Errorf("%s is not a JSON receipt: %w", path, err)
	}
	switch {
	case len(r.Entry) == 0:
		return nil, nil, fmt.Errorf("%s: the receipt has no entry (a compact receipt: ask for full receipts)", path)
	case r.TlogProof == "":
		return nil, nil, fmt.Errorf("%s: the receipt has no tlog_proof (a compact receipt: ask for full receipts)", path)
	}
	return r.Entry, trimBlankTail([]byte(r.TlogProof)), nil
}

// certificateIdentity describes a certificate for a person to check: its
// subject alternative names (emails, URIs such as a CI workflow, DNS
// names) or subject, and its issuer. Every string is quoted, so that no
// control character reaches the terminal.
func certificateIdentity(c *x509.Certificate) string {
	var ids []string
	for _, e := range c.EmailAddresses {
		ids = append(ids, strconv.Quote(e))
	}
	for _, u := range c.URIs {
		ids = append(ids, strconv.Quote(u.String()))
	}
	for _, d := range c.DNSNames {
		ids = append(ids, strconv.Quote(d))
	}
	if len(ids) == 0 {
		ids = append(ids, strconv.Quote(c.Subject.String()))
	}
	return fmt.Sprintf("%s, issued by %s", strings.Join(ids, ", "), strconv.Quote(c.Issuer.String()))
}

// identityFlags are tlog verify's --certificate-identity[-regexp] and
// --certificate-oidc-issuer[-regexp], spelled as cosign spells them.
type identityFlags struct {
	identity, identityRE, issuer, issuerRE string
	idRE, issRE                            *regexp.Regexp
}

func (f *identityFlags) given() bool {
	return f.identity != "" || f.identityRE != "" || f.issuer != "" || f.issuerRE != ""
}

func (f *identityFlags) validate() error {
	if !f.given() {
		return nil
	}
	if (f.identity == "") == (f.identityRE == "") || (f.issuer == "") == (f.issuerRE == "") {
		return errors.New("give one of --certificate-identity and --certificate-identity-regexp, and one of --certificate-oidc-issuer and --certificate-oidc-issuer-regexp")
	}
	var err error
	if f.identityRE != "" {
		if f.idRE, err = regexp.Compile(`^(?:` + f.identityRE + `)$`); err != nil {
			return fmt.Errorf("--certificate-identity-regexp: %w", err)
		}
	}
	if f.issuerRE != "" {
		if f.issRE, err = regexp.Compile(`^(?:` + f.issuerRE + `)$`); err != nil {
			return fmt.Errorf("--certificate-oidc-issuer-regexp: %w", err)
		}
	}
	return nil
}

// check requires rel's entry to name a matching identity and issuer.
func (f *identityFlags) check(rel *attest.Release) error {
	id := rel.Identity
	if id == nil {
		return errors.New("the attestation is not signed with a certificate: it names no identity")
	}
	match := func(v, exact string, re *regexp.Regexp) bool {
		if re != nil {
			return re.MatchString(v)
		}
		return v == exact
	}
	if !match(id.Identity, f.identity, f.idRE) {
		return fmt.Errorf("the certificate's identity is %s, not the one required", strconv.Quote(id.Identity))
	}
	if !match(id.Issuer, f.issuer, f.issRE) {
		return fmt.Errorf("the certificate's OIDC issuer is %s, not the one required", strconv.Quote(id.Issuer))
	}
	return nil
}
