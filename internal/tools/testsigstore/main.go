// Command testsigstore writes, from sigstore-go's in-memory test Sigstore
// (a virtual Fulcio, Rekor and TSA), a trusted_root.json and a keyless
// Sigstore bundle of an in-toto statement signed as an identity, so that
// tlog's keyless walk-through can be run without the public Sigstore:
//
//	go run ./internal/tools/testsigstore -out DIR -identity release-bot@acme.example \
//	    -issuer https://accounts.example.com -statement statement.json
//
// It writes DIR/trusted_root.json and DIR/model.sigstore.json (with a Rekor
// entry and an RFC 3161 timestamp; -rekor=false, -tsa=false leave them
// out). The Fulcio certificate is valid for 10 minutes and the trusted
// root for an hour: the test Sigstore lives in this process only, so every
// run makes new ones. For tests and demonstrations only.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tlogai/tlog/internal/sigstoretest"
)

func main() {
	out := flag.String("out", "", "directory to write trusted_root.json and model.sigstore.json into (required)")
	identity := flag.String("identity", "", "the certificate's identity, an e-mail SAN (required)")
	issuer := flag.String("issuer", "", "the certificate's OIDC issuer (required)")
	statementFile := flag.String("statement", "", "in-toto statement (JSON) to sign (required)")
	rekor := flag.Bool("rekor", true, "include a Rekor entry")
	tsa := flag.Bool("tsa", true, "include an RFC 3161 timestamp")
	flag.Parse()
	if *out == "" || *identity == "" || *issuer == "" || *statementFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, *identity, *issuer, *statementFile, *rekor, *tsa); err != nil {
		fmt.Fprintln(os.Stderr, "testsigstore:", err)
		os.Exit(1)
	}
}

func run(out, identity, issuer, statementFile string, rekor, tsa bool) error {
	stmt, err := os.ReadFile(statementFile)
	if err != nil {
		return err
	}
	s, err := sigstoretest.New()
	if err != nil {
		return err
	}
	tr, err := s.TrustedRootJSON()
	if err != nil {
		return err
	}
	sg, err := s.Attest(identity, issuer, stmt)
	if err != nil {
		return err
	}
	b, err := sg.Bundle(sigstoretest.BundleOptions{Rekor: rekor, Timestamp: tsa})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"trusted_root.json": tr, "model.sigstore.json": b} {
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", filepath.Join(out, name))
	}
	fmt.Printf("certificate: identity %s, issuer %s, valid %s to %s\n", identity, issuer,
		sg.Leaf.NotBefore.UTC().Format("15:04:05"), sg.Leaf.NotAfter.UTC().Format("15:04:05 MST"))
	return nil
}
