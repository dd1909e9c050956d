// Command kmsplugin is a sigstore KMS plugin for tests and demonstrations:
// a stand-in KMS whose keys are files. Built as sigstore-kms-<name> into a
// directory on PATH, it serves the key references <name>://<path>, where
// <path> is a PEM PKCS #8 private key file (Ed25519, ECDSA or RSA), through
// sigstore's plugin protocol v1 (github.com/sigstore/sigstore's
// pkg/signature/kms/cliplugin: the JSON arguments in argument 2, the
// message on stdin, the JSON answer on stdout):
//
//	go build -o /tmp/kms/sigstore-kms-testkms ./internal/tools/kmsplugin
//	openssl genpkey -algorithm ed25519 -out /tmp/kms/log.pem
//	PATH=/tmp/kms:$PATH tlog keygen --key-ref testkms:///tmp/kms/log.pem --origin log.example.com/ai
//
// Ed25519 keys sign the message itself (pure Ed25519), as a checkpoint
// key must; ECDSA and RSA keys sign its SHA-256 digest (for testing that
// such keys are refused).
//
// Faults, for tests: if the file <path>.fault exists, its first word makes
// every run fail in one way:
//
//	badsig  sign something else than the message (the public key is right)
//	error   answer every call with an error message
//	exit    write nothing to stdout, a message to stderr, and exit 3
//	hang    sleep for an hour before anything
//
// The file is read on every run, so a test can break a running log's key.
// Not a KMS: the key is a file, readable by whoever runs the plugin.
package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/common"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != common.ProtocolVersion {
		handler.WriteErrorResponse(os.Stdout, fmt.Errorf("protocol version %q, this plugin speaks %q", strings.Join(os.Args[1:2], ""), common.ProtocolVersion))
		return
	}
	args, err := handler.GetPluginArgs(os.Args)
	if err != nil {
		handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	if args.InitOptions == nil {
		handler.WriteErrorResponse(os.Stdout, errors.New("no initOptions"))
		return
	}
	path := args.InitOptions.KeyResourceID
	fault := readFault(path)
	switch fault {
	case "exit":
		fmt.Fprintln(os.Stderr, "kmsplugin: simulated crash (fault file)")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
	case "error":
		handler.WriteErrorResponse(os.Stdout, errors.New("key disabled (simulated by the fault file)"))
		return
	}
	impl, err := load(path, args.InitOptions.HashFunc, fault == "badsig")
	if err != nil {
		handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	if _, err := handler.Dispatch(os.Stdout, os.Stdin, args, impl); err != nil {
		fmt.Fprintln(os.Stderr, "kmsplugin:", err)
		os.Exit(1)
	}
}

// readFault returns the first word of <path>.fault, or "".
func readFault(path string) string {
	b, err := os.ReadFile(path + ".fault")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// fileKey is a kms.SignerVerifier over a key file.
type fileKey struct {
	signature.SignerVerifier
	badSig bool
}

func load(path string, hash crypto.Hash, badSig bool) (*fileKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM PKCS #8 private key", path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := priv.(ed25519.PrivateKey); !ok && hash == crypto.Hash(0) {
		hash = crypto.SHA256
	}
	sv, err := signature.LoadSignerVerifier(priv, hash)
	if err != nil {
		return nil, err
	}
	return &fileKey{SignerVerifier: sv, badSig: badSig}, nil
}

// SignMessage signs the message, or with the badsig fault something else.
func (k *fileKey) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	if k.badSig {
		msg, err := io.ReadAll(message)
		if err != nil {
			return nil, err
		}
		message = strings.NewReader(string(msg) + "not the message")
	}
	return k.SignerVerifier.SignMessage(message, opts...)
}

func (k *fileKey) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return nil, errors.New("kmsplugin cannot create keys: make a PEM key file")
}

func (k *fileKey) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("kmsplugin: CryptoSigner is not part of the plugin protocol")
}

func (k *fileKey) SupportedAlgorithms() []string { return []string{"ed25519", "ecdsa-p256-sha256"} }

func (k *fileKey) DefaultAlgorithm() string { return "ed25519" }
