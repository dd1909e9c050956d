package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tlogai/tlog/api"
	"github.com/tlogai/tlog/attest"
	"github.com/tlogai/tlog/internal/keyfile"
	"github.com/tlogai/tlog/log"
	"github.com/tlogai/tlog/proofs"
)

// maxReceipt bounds one receipt answer (a 64 KiB entry, base64, with its
// proof and checkpoint).
const maxReceipt = 1 << 20

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
			c, err := newLogClient(logURL)
			if err != nil {
				return err
			}
			sub, err := readSubmission(bundleFile, envFile, keyPEM, certPEM)
			if err != nil {
				return err
			}
			rel, err := attest.Admit(sub, nil, log.MaxEntrySize)
			if err != nil {
				return fmt.Errorf("the attestation would be refused: %w", err)
			}
			body, err := json.Marshal(sub)
			if err != nil {
				return err
			}
			q := url.Values{}
			if witnessed {
				q.Set("wait", "witnessed")
			}
			code, _, answer, err := c.post(cmd.Context(), "/api/v1/attestations", q, "application/json", body, maxReceipt)
			if err != nil {
				return err
			}
			if code != http.StatusOK && code != http.StatusAccepted {
				return fmt.Errorf("the log refused the attestation: %d %s: %s", code, http.StatusText(code), reason(answer))
			}
			var r api.Receipt
			if err := json.Unmarshal(answer, &r); err != nil {
				return fmt.Errorf("the log answered a malformed receipt: %w", err)
			}
			if !bytes.Equal(r.Entry, rel.Entry) {
				return fmt.Errorf("the log logged an entry other than this attestation's (index %d): refusing its receipt", r.Index)
			}
			vp, err := checkProof([]byte(r.TlogProof), rel.Entry, logKey)
			if err != nil {
				return fmt.Errorf("the receipt does not verify: %w", err)
			}
			if vp.Index != r.Index {
				return fmt.Errorf("the receipt's proof is for index %d, not %d", vp.Index, r.Index)
			}
			w := cmd.OutOrStdout()
			state := "logged"
			if r.Duplicate {
				state = "already logged"
			}
			fmt.Fprintf(w, "%s: index %d in tree of size %d\nleaf hash: %x\nsigner: %s\n", state, r.Index, vp.Checkpoint.Size, proofs.HashLeaf(rel.Entry), rel.Signer)
			for _, s := range rel.Subjects {
				fmt.Fprintf(w, "subject: %s\n", s)
			}
			if r.Witnessed != nil && !*r.Witnessed {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: no witnessed checkpoint covered the entry in time; the proof is against the log's own checkpoint")
			}
			if logKey == "" {
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
	var logURL, digest, model, signerFP, system, kind string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "search --log URL (--digest sha256:HEX | --model NAME | --signer sha256:HEX | --system NAME) [--kind KIND] [--limit N] [--all]",
		Short: "Find entries by model digest, model name, signer or AI system",
		Long: `Prints the indices of matching entries, newest first, one per line. Search
results come from an index the log keeps beside the tree: they are not
signed, and a log could leave entries out. Each hit can be proven ("tlog
get --key LOG.pub INDEX" checks its inclusion); to be sure nothing is
missing, a monitor reads the whole log from its tiles.`,
		Example: `  tlog search --log http://127.0.0.1:8080 --digest sha256:1f2e…
  tlog search --log http://127.0.0.1:8080 --model acme/fraud-v3 --kind model-release/v1
  tlog search --log http://127.0.0.1:8080 --system support-bot --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := newLogClient(logURL)
			if err != nil {
				return err
			}
			q := url.Values{}
			for _, f := range []struct{ name, value string }{{"digest", digest}, {"model", model}, {"signer", signerFP}, {"system", system}} {
				if f.value != "" {
					q.Set(f.name, f.value)
				}
			}
			if len(q) != 1 {
				return errors.New("give exactly one of --digest, --model, --signer, --system")
			}
			if kind != "" {
				q.Set("kind", kind)
			}
			q.Set("limit", strconv.Itoa(limit))
			w := cmd.OutOrStdout()
			for {
				var res api.SearchResult
				if err := c.getJSON(cmd.Context(), "/api/v1/search", q, &res); err != nil {
					return err
				}
				for _, h := range res.Results {
					fmt.Fprintln(w, h.Index)
				}
				if !all || res.NextCursor == "" {
					if res.NextCursor != "" {
						fmt.Fprintf(cmd.ErrOrStderr(), "more results: --all, or the API's cursor=%s\n", res.NextCursor)
					}
					return nil
				}
				q.Set("cursor", res.NextCursor)
			}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&logURL, "log", "", "log URL (required)")
	fl.StringVar(&digest, "digest", "", "a model's sha256:<hex> digest (release subjects and decision records' model.digest)")
	fl.StringVar(&model, "model", "", "a model name (release subjects, decision records' model.name)")
	fl.StringVar(&signerFP, "signer", "", "a publisher key fingerprint, sha256:<hex of the DER public key>")
	fl.StringVar(&system, "system", "", "an AI system's name (decision records)")
	fl.StringVar(&kind, "kind", "", "only entries of this kind: model-release/v1 or decision/v1")
	fl.IntVar(&limit, "limit", 100, "results per request (1…1000)")
	fl.BoolVar(&all, "all", false, "follow every page")
	return cmd
}
