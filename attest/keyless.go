package attest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"google.golang.org/protobuf/encoding/protojson"
)

// Time sources of a certificate-signed release: what proved that the
// certificate was valid when it signed.
const (
	// TimeSourceRekor: the integrated time of a Rekor entry of the
	// signature, its inclusion verified against a trusted Rekor log.
	TimeSourceRekor = "rekor"
	// TimeSourceTSA: an RFC 3161 timestamp of the signature from a
	// trusted timestamp authority.
	TimeSourceTSA = "tsa"
	// TimeSourceLog: the bundle has no timestamp; the log's own clock at
	// admission, when the certificate had to be valid.
	TimeSourceLog = "log"
)

// maxIdentityLength bounds a certificate's identity and issuer, which the
// entry records and the index keeps as a term.
const maxIdentityLength = 1024

// AdmitOptions configure AdmitWith.
type AdmitOptions struct {
	// Policy is the publisher policy; nil admits any publisher (an open
	// log).
	Policy *Policy
	// MaxEntry is the largest entry the log takes.
	MaxEntry int

	// TrustedRoot validates the certificates of certificate-signed
	// submissions (Sigstore trusted_root.json: Fulcio CAs, Rekor logs,
	// timestamp authorities, CT logs). The certificate must chain to a
	// trusted Fulcio CA and have been valid when it signed — at a verified
	// timestamp of the bundle (a Rekor entry's integrated time, an RFC
	// 3161 timestamp), or, when the bundle has none, at Now — and carry
	// an SCT when the root has CT logs. The entry then records the
	// certificate's identity, OIDC issuer and time source.
	TrustedRoot root.TrustedMaterial
	// AcceptUnverifiedCertificates, without TrustedRoot, admits a
	// certificate-signed submission on its key alone: the certificate is
	// not validated and the entry does not name it (the behaviour of logs
	// without trust roots). Without either, such submissions are refused
	// (ErrCertificate).
	AcceptUnverifiedCertificates bool
	// UnvalidatedIdentity, without TrustedRoot, builds the entry a log
	// with a trusted root makes — identity, issuer and time source read
	// from the certificate and the bundle — without validating any of it:
	// to rebuild offline the entry of a receipt or a proof, whose log
	// vouched for the validation.
	UnvalidatedIdentity bool
	// Offline, with TrustedRoot, checks a release a log admitted earlier:
	// a certificate whose bundle has no timestamp was vouched for by the
	// log's clock at admission (time source "log"), so its chain is
	// validated at its own NotBefore rather than at Now.
	Offline bool
	// Now is the log's clock (time.Now when nil).
	Now func() time.Time
}

// Identity is the identity a certificate-signed release names.
type Identity struct {
	// Identity is the certificate's subject alternative name (an e-mail,
	// a CI workflow URI), as cosign's --certificate-identity matches it.
	Identity string
	// Issuer is the OIDC issuer that vouched for it (Fulcio's issuer
	// extension), as cosign's --certificate-oidc-issuer matches it.
	Issuer string
	// TimeSource is TimeSourceRekor, TimeSourceTSA or TimeSourceLog.
	TimeSource string
	// Validated reports whether the certificate was validated against a
	// trusted root (false with UnvalidatedIdentity).
	Validated bool
	// VerifiedTimes are the times the certificate was checked at.
	VerifiedTimes []time.Time
}

// errNoTrustedRoot is the refusal of a certificate by a log that cannot
// validate it.
var errNoTrustedRoot = fmt.Errorf("%w: this log has no --trusted-root to validate certificates (sign with a key, or ask the operator)", ErrCertificate)

// keylessMaterial is what validating a certificate-signed submission
// needs: the sigstore-go bundle (the submitted one, or a v0.3 bundle
// wrapping a bare envelope and its certificate).
func keylessBundle(s *Submission, env *Envelope, leaf *x509.Certificate) (*sgbundle.Bundle, error) {
	var pb protobundle.Bundle
	if len(s.Bundle) > 0 {
		if err := protojson.Unmarshal(s.Bundle, &pb); err != nil {
			return nil, fmt.Errorf("%w: bundle: %v", ErrInvalid, oneLine(err))
		}
		var opts []sgbundle.Option
		if pb.GetVerificationMaterial().GetX509CertificateChain() != nil && strings.Contains(pb.MediaType, "0.3") {
			opts = append(opts, sgbundle.AllowCertificateChain())
		}
		b, err := sgbundle.NewBundle(&pb, opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: bundle: %v", ErrInvalid, oneLine(err))
		}
		return b, nil
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope payload: %v", ErrInvalid, err)
	}
	de := &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType}
	for _, sig := range env.Signatures {
		raw, err := decodeBase64(sig.Sig)
		if err != nil {
			return nil, fmt.Errorf("%w: envelope signature: %v", ErrInvalid, err)
		}
		de.Signatures = append(de.Signatures, &protodsse.Signature{Sig: raw, Keyid: sig.KeyID})
	}
	pb = protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: leaf.Raw}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: de},
	}
	b, err := sgbundle.NewBundle(&pb)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope and certificate: %v", ErrInvalid, oneLine(err))
	}
	return b, nil
}

// timeSource is the time source an entry names, from the bundle alone (so
// that a receipt's entry can be rebuilt offline): a Rekor entry with an
// integrated time, else an RFC 3161 timestamp, else the log's clock. It
// is the strongest kind the bundle carries, so more entries or timestamps
// of a kind already there, or a TSA timestamp beside a Rekor entry, do not
// change it.
func timeSource(b *sgbundle.Bundle) (string, bool, error) {
	entries, err := b.TlogEntries()
	if err != nil {
		return "", false, fmt.Errorf("%w: bundle transparency log entries: %v", ErrInvalid, oneLine(err))
	}
	tss, err := b.Timestamps()
	if err != nil {
		return "", false, fmt.Errorf("%w: bundle timestamps: %v", ErrInvalid, oneLine(err))
	}
	for _, e := range entries {
		if e.TransparencyLogEntry().GetIntegratedTime() > 0 {
			return TimeSourceRekor, true, nil
		}
	}
	if len(tss) > 0 {
		return TimeSourceTSA, len(entries) > 0, nil
	}
	return TimeSourceLog, len(entries) > 0, nil
}

// certIdentity reads a certificate's identity and issuer.
func certIdentity(leaf *x509.Certificate) (*Identity, error) {
	sum, err := certificate.SummarizeCertificate(leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrCertificate, oneLine(err))
	}
	id := &Identity{Identity: sum.SubjectAlternativeName, Issuer: sum.Extensions.Issuer}
	for _, v := range []struct{ name, value string }{{"subject alternative name", id.Identity}, {"OIDC issuer", id.Issuer}} {
		switch {
		case v.value == "":
			return nil, fmt.Errorf("%w: the certificate has no %s (not a Fulcio certificate)", ErrCertificate, v.name)
		case len(v.value) > maxIdentityLength || hasControlRune(v.value):
			return nil, fmt.Errorf("%w: the certificate's %s is longer than %d bytes or holds control characters", ErrCertificate, v.name, maxIdentityLength)
		}
	}
	return id, nil
}

// keylessIdentity validates (or, with UnvalidatedIdentity, only reads) the
// certificate of a certificate-signed submission whose envelope verified
// with leaf's key.
func keylessIdentity(s *Submission, env *Envelope, leaf *x509.Certificate, opts *AdmitOptions) (*Identity, error) {
	b, err := keylessBundle(s, env, leaf)
	if err != nil {
		return nil, err
	}
	source, hasEntries, err := timeSource(b)
	if err != nil {
		return nil, err
	}
	id, err := certIdentity(leaf)
	if err != nil {
		return nil, err
	}
	id.TimeSource = source
	tm := opts.TrustedRoot
	if tm == nil {
		return id, nil // UnvalidatedIdentity
	}
	id.Validated = true
	ct := len(tm.CTLogs()) > 0
	if source == TimeSourceLog && !hasEntries {
		// No timestamp: the log's clock. sigstore-go's WithCurrentTime
		// reads the system clock; this is the same check at Now.
		at := time.Now()
		switch {
		case opts.Offline:
			at = leaf.NotBefore
		case opts.Now != nil:
			at = opts.Now()
		}
		if err := verifyChainAt(tm, leaf, at, ct); err != nil {
			return nil, err
		}
		id.VerifiedTimes = []time.Time{at}
		return id, nil
	}
	var vopts []verify.VerifierOption
	if hasEntries {
		vopts = append(vopts, verify.WithTransparencyLog(1))
	}
	vopts = append(vopts, verify.WithObserverTimestamps(1))
	if ct {
		vopts = append(vopts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(tm, vopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCertificate, oneLine(err))
	}
	// No artifact: the envelope's payload is the statement checked above.
	// No identity: the publisher policy judges the identity read here.
	res, err := v.Verify(b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCertificate, oneLine(err))
	}
	want := map[string]string{TimeSourceRekor: "Tlog", TimeSourceTSA: "TimestampAuthority"}[source]
	found := false
	for _, ts := range res.VerifiedTimestamps {
		found = found || ts.Type == want
		id.VerifiedTimes = append(id.VerifiedTimes, ts.Timestamp)
	}
	if !found {
		what := map[string]string{TimeSourceRekor: "Rekor entry's integrated time", TimeSourceTSA: "RFC 3161 timestamp"}[source]
		return nil, fmt.Errorf("%w: the bundle's %s does not verify against the trusted root", ErrCertificate, what)
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return nil, fmt.Errorf("%w: the bundle was not verified as certificate-signed", ErrCertificate)
	}
	if c := res.Signature.Certificate; c.SubjectAlternativeName != id.Identity || c.Extensions.Issuer != id.Issuer {
		return nil, fmt.Errorf("%w: the verified certificate is not the bundle's leaf", ErrCertificate)
	}
	return id, nil
}

// verifyChainAt checks that leaf chains to a trusted Fulcio CA at t, with
// an SCT of a trusted CT log if ct.
func verifyChainAt(tm root.TrustedMaterial, leaf *x509.Certificate, t time.Time, ct bool) error {
	// Fulcio may mark an OtherName SAN critical, which Go does not handle
	// (sigstore-go does the same before path validation).
	c := *leaf
	c.UnhandledCriticalExtensions = nil
	for _, oid := range leaf.UnhandledCriticalExtensions {
		if !oid.Equal(cryptoutils.SANOID) {
			c.UnhandledCriticalExtensions = append(c.UnhandledCriticalExtensions, oid)
		}
	}
	var errs []error
	var chains [][]*x509.Certificate
	for _, ca := range tm.FulcioCertificateAuthorities() {
		ch, err := ca.Verify(&c, t)
		if err == nil {
			chains = ch
			break
		}
		errs = append(errs, err)
	}
	if chains == nil {
		if len(errs) == 0 {
			return fmt.Errorf("%w: the trusted root has no Fulcio certificate authority", ErrCertificate)
		}
		return fmt.Errorf("%w: the certificate does not verify against a trusted Fulcio CA at %s (the bundle has no timestamp, so the log's clock): %v",
			ErrCertificate, t.UTC().Format(time.RFC3339), oneLine(errors.Join(errs...)))
	}
	if ct {
		if err := verify.VerifySignedCertificateTimestamp(chains, 1, tm); err != nil {
			return fmt.Errorf("%w: %v", ErrCertificate, oneLine(err))
		}
	}
	return nil
}

// oneLine joins the lines of an error's message (errors.Join writes one
// per line) so that a refusal is one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// LoadTrustedRoot parses a Sigstore trusted_root.json.
func LoadTrustedRoot(b []byte) (*root.TrustedRoot, error) {
	if !json.Valid(b) {
		return nil, errors.New("not JSON (want a Sigstore trusted_root.json)")
	}
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not a Sigstore trusted root: %v", oneLine(err))
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, errors.New("the trusted root has no Fulcio certificate authority (certificateAuthorities)")
	}
	return tr, nil
}
