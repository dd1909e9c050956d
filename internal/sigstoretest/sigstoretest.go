// Package sigstoretest turns sigstore-go's in-memory Sigstore for tests
// (pkg/testing/ca: a virtual Fulcio, Rekor and timestamp authority) into
// the files tlog reads: a trusted_root.json and keyless Sigstore bundles
// (v0.3, JSON) holding a DSSE envelope, with or without a Rekor entry and
// an RFC 3161 timestamp. Used by tests and by internal/tools/testsigstore;
// nothing here is for production.
package sigstoretest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"
)

// Sigstore is a virtual Sigstore: its own Fulcio CA, Rekor log and TSA.
type Sigstore struct {
	*ca.VirtualSigstore
}

// New makes a virtual Sigstore. Its CAs are valid from 5 hours ago to an
// hour from now, its Rekor log for an hour either side of now.
func New() (*Sigstore, error) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, err
	}
	return &Sigstore{vs}, nil
}

// TrustedRoot returns the trusted root of this Sigstore: its Fulcio CA,
// TSA and Rekor log, and its CT log only with ct (its certificates carry
// no SCTs, so a root with the CT log refuses them).
func (s *Sigstore) TrustedRoot(ct bool) (*root.TrustedRoot, error) {
	var ctlogs map[string]*root.TransparencyLog
	if ct {
		ctlogs = rawIDs(s.CTLogs())
	}
	return root.NewTrustedRoot(root.TrustedRootMediaType01, s.FulcioCertificateAuthorities(), ctlogs, s.TimestampingAuthorities(), rawIDs(s.RekorLogs()))
}

// rawIDs fixes the logs of the virtual Sigstore for trusted_root.json: it
// sets their ID to the hex string's bytes, not the key ID itself, which
// is fine in memory but written as the logId.keyId of the file would name
// another log.
func rawIDs(logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
	out := make(map[string]*root.TransparencyLog, len(logs))
	for k, tl := range logs {
		c := *tl
		if raw, err := hex.DecodeString(string(tl.ID)); err == nil {
			c.ID = raw
		}
		out[k] = &c
	}
	return out
}

// TrustedRootJSON is TrustedRoot(false) as trusted_root.json.
func (s *Sigstore) TrustedRootJSON() ([]byte, error) {
	tr, err := s.TrustedRoot(false)
	if err != nil {
		return nil, err
	}
	return tr.MarshalJSON()
}

// Signed is one keyless signing: a Fulcio certificate for an identity, the
// DSSE envelope its key signed, the Rekor entry and the RFC 3161 timestamp
// of the signature.
type Signed struct {
	Leaf          *x509.Certificate
	Intermediates []*x509.Certificate // the Fulcio intermediate, then the root
	PayloadType   string
	Payload       []byte
	Sig           []byte
	Rekor         *protorekor.TransparencyLogEntry
	Timestamp     []byte
}

// Attest signs an in-toto statement as identity (an e-mail SAN) vouched by
// issuer, at once: the certificate is valid for 10 minutes from now, the
// Rekor entry (with an inclusion proof and a promise) integrated now.
func (s *Sigstore) Attest(identity, issuer string, statement []byte) (*Signed, error) {
	integrated := time.Now().Add(time.Second)
	e, err := s.AttestAtTime(identity, issuer, statement, integrated, true)
	if err != nil {
		return nil, err
	}
	vc, err := e.VerificationContent()
	if err != nil {
		return nil, err
	}
	sc, err := e.SignatureContent()
	if err != nil {
		return nil, err
	}
	env := sc.EnvelopeContent().RawEnvelope()
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, err
	}
	tss, err := e.Timestamps()
	if err != nil || len(tss) != 1 {
		return nil, fmt.Errorf("timestamps: %v", err)
	}
	entries, err := e.TlogEntries()
	if err != nil || len(entries) != 1 {
		return nil, fmt.Errorf("tlog entries: %v", err)
	}
	tle, err := s.protoEntry(entries[0])
	if err != nil {
		return nil, err
	}
	return &Signed{
		Leaf:          vc.Certificate(),
		Intermediates: append(append([]*x509.Certificate(nil), s.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Intermediates...), s.FulcioCertificateAuthorities()[0].(*root.FulcioCertificateAuthority).Root),
		PayloadType:   env.PayloadType,
		Payload:       payload,
		Sig:           sc.Signature(),
		Rekor:         tle,
		Timestamp:     tss[0],
	}, nil
}

// protoEntry is a Rekor entry as a bundle holds it: the entry's own proto
// lacks its kind and its promise (the SET), which sigstore-go keeps apart.
func (s *Sigstore) protoEntry(e *tlog.Entry) (*protorekor.TransparencyLogEntry, error) {
	tle := e.TransparencyLogEntry()
	var kv struct{ Kind, APIVersion string }
	if err := json.Unmarshal(tle.CanonicalizedBody, &kv); err != nil {
		return nil, err
	}
	logID, err := s.RekorLogID()
	if err != nil {
		return nil, err
	}
	set, err := s.RekorSignPayload(tlog.RekorPayload{
		LogID: logID, IntegratedTime: tle.IntegratedTime, LogIndex: tle.LogIndex,
		Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
	})
	if err != nil {
		return nil, err
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          tle.LogIndex,
		LogId:             tle.LogId,
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    tle.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: set},
		InclusionProof:    tle.InclusionProof,
		CanonicalizedBody: tle.CanonicalizedBody,
	}, nil
}

// BundleOptions choose what a bundle carries beside the certificate and
// the envelope.
type BundleOptions struct {
	Rekor     bool // the Rekor entry
	Timestamp bool // the RFC 3161 timestamp
	// Chain writes the certificate as an x509CertificateChain (leaf,
	// intermediate, root, then Extra) in a v0.2 bundle.
	Chain bool
	Extra []*x509.Certificate
	// Entries and Timestamps are added as they are (other logs' entries,
	// other TSAs' timestamps, garbage).
	Entries    []*protorekor.TransparencyLogEntry
	Timestamps [][]byte
}

// Bundle returns the signing as Sigstore bundle JSON: v0.3 with the
// leaf certificate, or v0.2 with the chain.
func (sg *Signed) Bundle(o BundleOptions) ([]byte, error) {
	vm := &protobundle.VerificationMaterial{}
	media := "application/vnd.dev.sigstore.bundle.v0.3+json"
	if o.Chain {
		media = "application/vnd.dev.sigstore.bundle+json;version=0.2"
		chain := &protocommon.X509CertificateChain{}
		for _, c := range append(append([]*x509.Certificate{sg.Leaf}, sg.Intermediates...), o.Extra...) {
			chain.Certificates = append(chain.Certificates, &protocommon.X509Certificate{RawBytes: c.Raw})
		}
		vm.Content = &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: chain}
	} else {
		vm.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: sg.Leaf.Raw}}
	}
	if o.Rekor {
		vm.TlogEntries = append(vm.TlogEntries, sg.Rekor)
	}
	vm.TlogEntries = append(vm.TlogEntries, o.Entries...)
	var tss [][]byte
	if o.Timestamp {
		tss = append(tss, sg.Timestamp)
	}
	tss = append(tss, o.Timestamps...)
	if len(tss) > 0 {
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{}
		for _, ts := range tss {
			vm.TimestampVerificationData.Rfc3161Timestamps = append(vm.TimestampVerificationData.Rfc3161Timestamps, &protocommon.RFC3161SignedTimestamp{SignedTimestamp: ts})
		}
	}
	b := &protobundle.Bundle{
		MediaType:            media,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: sg.Payload, PayloadType: sg.PayloadType,
			Signatures: []*protodsse.Signature{{Sig: sg.Sig}},
		}},
	}
	return protojson.Marshal(b)
}

// Envelope returns the DSSE envelope as JSON, for a bare submission.
func (sg *Signed) Envelope() []byte {
	b, _ := json.Marshal(map[string]any{
		"payloadType": sg.PayloadType,
		"payload":     base64.StdEncoding.EncodeToString(sg.Payload),
		"signatures":  []any{map[string]any{"sig": base64.StdEncoding.EncodeToString(sg.Sig)}},
	})
	return b
}
