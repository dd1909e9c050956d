package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tlogai/tlog/client"
	"net/http"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/proofs"
)

func attestCmd() *cobra.Command {
	var logURL, bundleFile, envFile, keyPEM, certPEM, out, logKey string
	var witnessed bool
	cmd := &cobra.Command{
		Use:   "attest --log URL (--bundle FILE | --envelope FILE) [--key PEM] [--out FILE.tlog-proof]",
		Short: "Log a signed model release attestation and keep its receipt",
		Long: `Submits a DSSE envelope holding an in-toto statement (a model-signing
manifest, SLSA provenance, …), alone (--envelope, with --key or
--certificate) or inside a Sigstore bundle (--bundle, as written by
"cosign attest-blob --bundle" or the model_signing tool; --key is needed when
the bundle carries only a key hint). The log verifies the publisher's
signature and answers a receipt. This command then rebuilds the entry
itself, checks that the log logged exactly that and that the proof leads to
the checkpoint (and, with --log-key, that the checkpoint is the log's), and
writes the c2sp.org/tlog-proof file to --out: ship it beside the model;
anyone checks it offline with "tlog verify --attestation".`,
		Example: `  tlog attest --log http://127.0.0.1:8080 --bundle model.sig --key publisher.pub --out model.tlog-proof
  tlog attest --log http://127.0.0.1:8080 --envelope release.dsse.json --key publisher.pub --log-key log.pub --out release.tlog-proof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(logURL, logKey)
			if err != nil {
				return err
			}
			sub, err := readSubmission(bundleFile, envFile, keyPEM, certPEM)
			if err != nil {
				return err
			}
			r, rel, err := c.Attest(cmd.Context(), sub, client.SubmitOptions{Witnessed: witnessed, Retry: client.RetryPolicy{Attempts: 5}})
			switch {
			case rel == nil:
				return err
			case err != nil:
				var se *client.StatusError
				switch {
				case errors.As(err, &se):
					return fmt.Errorf("the log refused the attestation: %d %s: %s", se.Code, http.StatusText(se.Code), se.Reason)
				case client.Retryable(err) || errors.Is(err, context.Canceled):
					return err // no answer: nothing to verify
				}
				return fmt.Errorf("the receipt does not verify: %w", err)
			case !r.Proven:
				return fmt.Errorf("the log answered a receipt without a proof (index %d)", r.Index)
			}
			w := cmd.OutOrStdout()
			state := "logged"
			if r.Duplicate {
				state = "already logged"
			}
			fmt.Fprintf(w, "%s: index %d in tree of size %d\nleaf hash: %x\nsigner: %s\n", state, r.Index, r.Tree.Size, proofs.HashLeaf(rel.Entry), rel.Signer)
			if id := rel.Identity; id != nil {
				fmt.Fprintf(w, "identity: %s\nissuer: %s\ntime source: %s\n", strconv.Quote(id.Identity), strconv.Quote(id.Issuer), id.TimeSource)
			}
			for _, s := range rel.Subjects {
				fmt.Fprintf(w, "subject: %s\n", s)
			}
			if r.Witnessed != nil && !*r.Witnessed {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: no witnessed checkpoint covered the entry in time; the proof is against the log's own checkpoint")
			}
			if !r.Verified {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: without --log-key the checkpoint's signature was not checked")
			}
			if out != "" {
				if err := keyfile.WriteSynced(out, []byte(r.TlogProof), os.O_TRUNC, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(w, "proof: %s\n", out)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&logURL, "log", "", "log URL (required)")
	fl.StringVar(&bundleFile, "bundle", "", "Sigstore bundle (v0.1–v0.3) with a DSSE envelope")
	fl.StringVar(&envFile, "envelope", "", "DSSE envelope (JSON)")
	fl.StringVar(&keyPEM, "key", "", "publisher's public key (PEM)")
	fl.StringVar(&certPEM, "certificate", "", "publisher's certificate chain (PEM, leaf first), for --envelope")
	fl.StringVar(&logKey, "log-key", "", "log verifier key file: also check the receipt's checkpoint signature")
	fl.StringVar(&out, "out", "", "write the tlog-proof file here")
	fl.BoolVar(&witnessed, "wait-witnessed", false, "wait for a checkpoint cosigned by the log's witness quorum")
	return cmd
}

// readSubmission builds a submission from the files of tlog attest and
// tlog verify --attestation. attestation may be given as bundleFile and
// envFile both empty and a file in either: then its kind is detected.
func readSubmission(bundleFile, envFile, keyPEM, certPEM string) (*attest.Submission, error) {
	var sub attest.Submission
	switch {
	case (bundleFile == "") == (envFile == ""):
		return nil, errors.New("give exactly one of --bundle FILE and --envelope FILE")
	case bundleFile != "":
		b, err := os.ReadFile(bundleFile)
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("%s is not JSON", bundleFile)
		}
		sub.Bundle = b
	default:
		b, err := os.ReadFile(envFile)
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("%s is not JSON", envFile)
		}
		sub.Envelope = b
	}
	if keyPEM != "" {
		b, err := os.ReadFile(keyPEM)
		if err != nil {
			return nil, err
		}
		sub.PublicKey = string(b)
	}
	if certPEM != "" {
		b, err := os.ReadFile(certPEM)
		if err != nil {
			return nil, err
		}
		sub.Certificate = string(b)
	}
	return &sub, nil
}

// detectAttestation tells a Sigstore bundle from a bare DSSE envelope.
func detectAttestation(path string) (bundleFile, envFile string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	var probe struct {
		MediaType   *string `json:"mediaType"`
		PayloadType *string `json:"payloadType"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return "", "", fmt.Errorf("%s is not JSON: %w", path, err)
	}
	switch {
	case probe.MediaType != nil:
		return path, "", nil
	case probe.PayloadType != nil:
		return "", path, nil
	}
	return "", "", fmt.Errorf("%s is neither a Sigstore bundle (mediaType) nor a DSSE envelope (payloadType)", path)
}

func searchCmd() *cobra.Command {
	var logURL, digest, model, signerFP, identity, system, kind string
	var actor, resource, purpose, event string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "search --log URL (--digest sha256:HEX | --model NAME | --signer sha256:HEX | --identity SAN | --system NAME | --actor ID | --resource ID | --purpose TEXT | --event ID) [--kind KIND] [--limit N] [--all]",
		Short: "Find entries by model digest, model name, signer, certificate identity, AI system, or data-access actor, resource, purpose, event",
		Long: `Prints the indices of matching entries, newest first, one per line. Search
results come from an index the log keeps beside the tree: they are not
signed, and a log could leave entries out. Each hit can be proven ("tlog
get --key LOG.pub INDEX" checks its inclusion); to be sure nothing is
missing, a monitor reads the whole log from its tiles.`,
		Example: `  tlog search --log http://127.0.0.1:8080 --digest sha256:1f2e…
  tlog search --log http://127.0.0.1:8080 --model acme/fraud-v3 --kind model-release/v1
  tlog search --log http://127.0.0.1:8080 --identity release-bot@acme.example
  tlog search --log http://127.0.0.1:8080 --system support-bot --all
  tlog search --log http://127.0.0.1:8080 --resource sha256:7e4b… --kind access/v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newClient(logURL, "")
			if err != nil {
				return err
			}
			given := 0
			for _, v := range []string{digest, model, signerFP, identity, system, actor, resource, purpose, event} {
				if v != "" {
					given++
				}
			}
			if given != 1 {
				return errors.New("give exactly one of --digest, --model, --signer, --identity, --system, --actor, --resource, --purpose, --event")
			}
			if limit < 1 || limit > 1000 {
				return errors.New("--limit must be 1…1000")
			}
			q := client.Query{Digest: digest, Model: model, Signer: signerFP, Identity: identity, System: system,
				Actor: actor, Resource: resource, Purpose: purpose, Event: event, Kind: kind, Limit: limit}
			w := cmd.OutOrStdout()
			cursor := ""
			for {
				page, next, err := c.SearchPage(cmd.Context(), q, cursor)
				if err != nil {
					return err
				}
				for _, i := range page {
					fmt.Fprintln(w, i)
				}
				if !all || next == "" {
					if next != "" {
						fmt.Fprintf(cmd.ErrOrStderr(), "more results: --all, or the API's cursor=%s\n", next)
					}
					return nil
				}
				cursor = next
			}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&logURL, "log", "", "log URL (required)")
	fl.StringVar(&digest, "digest", "", "a model's sha256:<hex> digest (release subjects and decision records' model.digest)")
	fl.StringVar(&model, "model", "", "a model name (release subjects, decision records' model.name)")
	fl.StringVar(&signerFP, "signer", "", "a publisher key fingerprint, sha256:<hex of the DER public key>")
	fl.StringVar(&identity, "identity", "", "a certificate identity, exactly (the Fulcio certificate's subject alternative name: an e-mail, a CI workflow URI): releases signed keyless, validated by the log")
	fl.StringVar(&system, "system", "", "an AI system's name (decision records)")
	fl.StringVar(&actor, "actor", "", "a data-access record's actor id (or commitment to it)")
	fl.StringVar(&resource, "resource", "", "a data-access record's resource id (or commitment to it)")
	fl.StringVar(&purpose, "purpose", "", "a data-access record's purpose")
	fl.StringVar(&event, "event", "", "a data-access record's event_id, or an evaluation's evaluation_id")
	fl.StringVar(&kind, "kind", "", "only entries of this kind: model-release/v1, decision/v1, access/v1 or evaluation/v1")
	fl.IntVar(&limit, "limit", 100, "results per request (1…1000)")
	fl.BoolVar(&all, "all", false, "follow every page")
	return cmd
}
