package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Errors of KMS-backed signers, returned wrapped; test with errors.Is.
var (
	// ErrKMSProvider: nothing serves the reference's scheme, neither a
	// provider compiled into the program nor a plugin on PATH.
	ErrKMSProvider = errors.New("no KMS provider")
	// ErrKMSKeyType: the KMS key is not an Ed25519 key.
	ErrKMSKeyType = errors.New("unsupported KMS key type")
	// ErrKMSSignature: the KMS returned a signature that does not verify
	// with the key's public key.
	ErrKMSSignature = errors.New("KMS signature does not verify with the KMS key's public key")
)

// KMSSignTimeout bounds each call to a KMS (fetching the public key, one
// signature, one plugin run). A signature that takes longer fails, and so
// does the log batch waiting for it, instead of stalling the log.
const KMSSignTimeout = 10 * time.Second

// kmsProbePrefix starts the message FromKMS has the key sign to check it.
// The NUL byte makes it impossible as note text (signed notes carry no
// control character but newline), so the probe's signature can never pass
// for the signature of a note or a checkpoint.
const kmsProbePrefix = "tlog KMS key check\x00"

// kmsScheme is what a reference's scheme may be: it names the plugin
// executable sigstore-kms-<scheme>, so no path separators.
var kmsScheme = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// kmsSchemeNotes says, for the KMS schemes of sigstore's own providers
// that cannot serve a checkpoint key, why they are not enough.
var kmsSchemeNotes = map[string]string{
	"awskms":   "sigstore's AWS KMS provider (v1.10) signs only SHA-2 digests, while an AWS KMS Ed25519 key (key spec ECC_NIST_EDWARDS25519) must sign the message itself (ED25519_SHA_512, message type RAW)",
	"gcpkms":   "sigstore's Cloud KMS provider (v1.10) signs only SHA-2 digests, while a Cloud KMS Ed25519 key (EC_SIGN_ED25519) must sign the data itself",
	"azurekms": "Azure Key Vault has no Ed25519 keys; its EC and RSA keys make signatures a checkpoint cannot carry",
}

// kmsKeyTypesHelp names the KMS keys that work, for error messages.
const kmsKeyTypesHelp = "use an Ed25519 key: a Vault or OpenBao transit key of type ed25519 (hashivault://NAME, openbao://NAME), " +
	"or through a KMS plugin a Google Cloud KMS EC_SIGN_ED25519 or AWS KMS ECC_NIST_EDWARDS25519 key"

// FromKMS makes a note signer named name whose private key stays in a KMS:
// ref is a sigstore KMS reference, <scheme>://<key>, served either by a
// provider compiled into the program (a blank import of one of sigstore's
// kms/<provider> packages, which registers its scheme: hashivault:// and
// openbao:// for Vault and OpenBao transit keys, awskms://, gcpkms://,
// azurekms://) or, for any other scheme, by sigstore's plugin mechanism:
// an executable sigstore-kms-<scheme> on PATH, run once per call with
// protocol version "v1" and the JSON arguments, the message on stdin and
// the JSON answer on stdout (github.com/sigstore/sigstore's
// pkg/signature/kms/cliplugin). The plugin gets the reference without
// "<scheme>://".
//
// The key must be an Ed25519 key that signs the message itself (pure
// Ed25519, RFC 8032, not Ed25519ph): its signatures are then standard
// signed-note signatures of type 0x01, which golang.org/x/mod/sumdb/note
// and the other C2SP verifiers accept, and the verifier key is the usual
// <name>+<id>+<base64(0x01 || public key)>. Other key types are refused
// with ErrKMSKeyType. Signed-note type 0x02 (ECDSA) exists, but only
// "as implemented by" one verifier; x/mod, most C2SP checkpoint clients and
// this project's SDKs check only 0x01, so a log signing with it would not
// be verifiable by the clients its checkpoints are for.
//
// Before returning, FromKMS fetches the public key and has the key sign a
// random probe message (one that can never be note text) and checks the
// signature, so a misconfigured key, a provider that pre-hashes, or a
// broken plugin fail here, before anything is signed. After that, every
// signature is checked against the public key fetched here before it is
// returned: a KMS that starts answering with another key (a rotated key
// version, say) makes Sign fail with ErrKMSSignature rather than produce a
// checkpoint nobody can verify. ctx bounds the loading; each call to the
// KMS is also bounded by KMSSignTimeout. The Signer is safe for concurrent
// use if the provider is (sigstore's providers and plugins are).
func FromKMS(ctx context.Context, name, ref string) (*Signer, error) {
	if !isValidName(name) {
		return nil, fmt.Errorf("%w: invalid key name %q (non-empty, no spaces, no '+')", ErrMalformedKey, name)
	}
	scheme, rest, ok := strings.Cut(ref, "://")
	if !ok || rest == "" || !kmsScheme.MatchString(scheme) {
		return nil, fmt.Errorf("%q is not a KMS key reference: want <provider>://<key>, for example hashivault://tlog-log or <plugin>://<key> for a plugin sigstore-kms-<plugin> on PATH", ref)
	}
	sv, err := kms.Get(ctx, ref, crypto.Hash(0))
	if err != nil {
		var notFound *kms.ProviderNotFoundError
		if errors.As(err, &notFound) {
			return nil, noProviderError(scheme, ref)
		}
		return nil, fmt.Errorf("couldn't load KMS key %s: %w", ref, describeKMSError(scheme, err))
	}
	k := &kmsSigner{sv: sv, scheme: scheme, ref: ref}
	pub, err := k.fetchPublicKey(ctx)
	if err != nil {
		return nil, err
	}
	k.pub = pub
	probe := make([]byte, len(kmsProbePrefix)+32)
	copy(probe, kmsProbePrefix)
	if _, err := rand.Read(probe[len(kmsProbePrefix):]); err != nil {
		return nil, err
	}
	if _, err := k.sign(ctx, probe); err != nil {
		return nil, fmt.Errorf("KMS key %s failed its test signature, refusing to sign with it: %w", ref, err)
	}
	return FromSigstore(name, k)
}

// noProviderError explains a scheme nothing serves.
func noProviderError(scheme, ref string) error {
	compiled := kms.SupportedProviders()
	slices.Sort(compiled)
	have := "none"
	if len(compiled) > 0 {
		have = strings.Join(compiled, ", ")
	}
	why := ""
	if note, ok := kmsSchemeNotes[scheme]; ok {
		why = note + "; "
	}
	return fmt.Errorf("%w for %s: no provider for %s:// is compiled into this program (compiled in: %s) and no KMS plugin %s%s is on PATH; %sinstall a sigstore KMS plugin of that name that signs with an Ed25519 key, or %s",
		ErrKMSProvider, ref, scheme, have, cliplugin.PluginBinaryPrefix, scheme, why, kmsKeyTypesHelp)
}

// describeKMSError makes a plugin's failure say which plugin failed and how.
func describeKMSError(scheme string, err error) error {
	plugin := cliplugin.PluginBinaryPrefix + scheme
	switch {
	case errors.Is(err, context.DeadlineExceeded) && errors.Is(err, cliplugin.ErrorExecutingPlugin):
		return fmt.Errorf("the KMS plugin %s gave no answer within the time allowed and was stopped: %w", plugin, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer within the time allowed: %w", err)
	case errors.Is(err, cliplugin.ErrorResponseParse):
		return fmt.Errorf("the KMS plugin %s gave no answer (did it fail or exit early? what it wrote to stderr is above): %w", plugin, err)
	case errors.Is(err, cliplugin.ErrorPluginReturnError):
		return fmt.Errorf("the KMS plugin %s refused: %w", plugin, err)
	case errors.Is(err, cliplugin.ErrorExecutingPlugin):
		return fmt.Errorf("couldn't run the KMS plugin %s: %w", plugin, err)
	}
	return err
}

// kmsSigner is a signature.Signer over a KMS key that checks every
// signature against the key's public key.
type kmsSigner struct {
	sv     signature.Signer
	scheme string
	ref    string
	pub    ed25519.PublicKey
}

func (k *kmsSigner) fetchPublicKey(ctx context.Context) (ed25519.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, KMSSignTimeout)
	defer cancel()
	pub, err := k.sv.PublicKey(options.WithContext(ctx))
	err = withDeadline(ctx, err)
	if err != nil {
		return nil, fmt.Errorf("couldn't get the public key of KMS key %s: %w", k.ref, describeKMSError(k.scheme, err))
	}
	edpub, ok := pub.(ed25519.PublicKey)
	if !ok || len(edpub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: KMS key %s is %s, but checkpoints are signed with Ed25519 (signed-note type 0x01, the type golang.org/x/mod/sumdb/note and C2SP checkpoint verifiers accept); %s",
			ErrKMSKeyType, k.ref, describeKey(pub), kmsKeyTypesHelp)
	}
	return edpub, nil
}

// withDeadline adds to err that ctx ran out, if it did: a plugin killed
// at the deadline only says "signal: killed".
func withDeadline(ctx context.Context, err error) error {
	cerr := ctx.Err()
	switch {
	case cerr == nil || errors.Is(err, cerr):
		return err
	case err == nil:
		return cerr
	}
	return fmt.Errorf("%w: %w", cerr, err)
}

// describeKey names a public key's type for a message.
func describeKey(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		return "an ECDSA " + p.Curve.Params().Name + " key"
	case *rsa.PublicKey:
		return fmt.Sprintf("an RSA-%d key", p.N.BitLen())
	case ed25519.PublicKey:
		return fmt.Sprintf("an Ed25519 key of %d bytes", len(p))
	case nil:
		return "a key of no type"
	}
	return fmt.Sprintf("a %T key", pub)
}

// sign has the KMS sign msg and checks the signature.
func (k *kmsSigner) sign(ctx context.Context, msg []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, KMSSignTimeout)
	defer cancel()
	sig, err := k.sv.SignMessage(bytes.NewReader(msg), options.WithContext(ctx))
	err = withDeadline(ctx, err)
	if err != nil {
		return nil, fmt.Errorf("KMS key %s couldn't sign: %w", k.ref, describeKMSError(k.scheme, err))
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k.pub, msg, sig) {
		return nil, fmt.Errorf("%w (%s returned %d bytes; is it the key whose public key it gives, and does it sign the message itself, not a digest?)", ErrKMSSignature, k.ref, len(sig))
	}
	return sig, nil
}

// SignMessage signs the message with the KMS key, within KMSSignTimeout.
// Options are ignored.
func (k *kmsSigner) SignMessage(message io.Reader, _ ...signature.SignOption) ([]byte, error) {
	msg, err := io.ReadAll(message)
	if err != nil {
		return nil, err
	}
	return k.sign(context.Background(), msg)
}

// PublicKey returns the public key fetched when the key was loaded.
func (k *kmsSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return k.pub, nil
}
