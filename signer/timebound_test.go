package signer_test

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/tlogai/tlog/signer"
)

// The oracle of EarliestCosignature: the fixed clocks the cosigners sign
// with. Lines that must not count are each earlier than every one that
// does, so that counting any of them changes the answer.
func TestEarliestCosignature(t *testing.T) {
	log := newTestKey(t, "example.com/log", 1)
	at := func(sec int64) func() time.Time { return fixedClock(time.Unix(sec, 0)) }
	x1 := newWitnessKey(t, "x1.witness.example", 0x31, at(1700000300))
	x2 := newWitnessKey(t, "x2.witness.example", 0x32, at(1700000200))
	unknown := newWitnessKey(t, "z.witness.example", 0x33, at(1600000000))
	policy := mustParsePolicy(t, "log "+log.vkey+"\nwitness X1 "+x1.vkey+"\nwitness X2 "+x2.vkey+"\ngroup g any X1 X2\nquorum g\n")
	text := checkpointFor("example.com/log").Text()

	msg, err := signer.SignNote(text, log.s, x1.c, x2.c, unknown.c)
	if err != nil {
		t.Fatal(err)
	}
	// X1's cosignature with its timestamp moved back a year: the line
	// still names X1's key, but the signature no longer verifies.
	lines := sigLines(msg)
	forged := sigBytes(t, lines[1])
	binary.BigEndian.PutUint64(forged[4:], 1700000300-365*24*3600)
	forgedLine := "— " + x1.name + " " + base64.StdEncoding.EncodeToString(forged) + "\n"
	// X2's valid cosignature of another checkpoint, moved onto this one.
	other, err := signer.SignNote(signer.Checkpoint{Origin: "example.com/log", Size: 1, Hash: testRoot("other")}.Text(), signer.NoteSigner(x2WithClock(t, x2, at(1500000000))))
	if err != nil {
		t.Fatal(err)
	}
	grafted := sigLines(other)[0]

	want := time.Unix(1700000200, 0).UTC()
	for _, tc := range []struct {
		name string
		msg  string
		want time.Time
		who  string
	}{
		{"ours", string(msg), want, "X2"},
		{"forged and grafted lines", string(msg) + forgedLine + grafted, want, "X2"},
		{"X1 only", text + "\n" + lines[0] + lines[1], time.Unix(1700000300, 0).UTC(), "X1"},
		{"unknown witness only", text + "\n" + lines[0] + lines[3], time.Time{}, ""},
		{"forged only", text + "\n" + lines[0] + forgedLine, time.Time{}, ""},
		{"grafted only", text + "\n" + lines[0] + grafted, time.Time{}, ""},
		{"log signature only", text + "\n" + lines[0], time.Time{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Parsed without verifying anything: the helper verifies.
			n, err := signer.ParseNote([]byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			got, who, ok := signer.EarliestCosignature(n, policy)
			if ok != !tc.want.IsZero() || !got.Equal(tc.want) || who != tc.who {
				t.Errorf("EarliestCosignature = %v, %q, %v; want %v, %q, %v", got, who, ok, tc.want, tc.who, !tc.want.IsZero())
			}
			if ok && got.Location() != time.UTC {
				t.Errorf("time %v is not UTC", got)
			}
			// Opened with the log's key only, the cosignatures are all
			// unverified: the same answer.
			if n, err := signer.OpenNote([]byte(tc.msg), log.v); err == nil {
				if got2, who2, ok2 := signer.EarliestCosignature(n, policy); got2 != got || who2 != who || ok2 != ok {
					t.Errorf("on the note opened with the log key: %v, %q, %v", got2, who2, ok2)
				}
			} else {
				t.Fatal(err)
			}
		})
	}

	// Opened by the policy (the forged line would make Check fail: a
	// known witness's bad cosignature rejects the note).
	_, n, err := policy.Check(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got, who, ok := signer.EarliestCosignature(n, policy); !ok || !got.Equal(want) || who != "X2" {
		t.Errorf("on the note opened by the policy: %v, %q, %v", got, who, ok)
	}
	// Another policy (other witnesses) trusts none of them.
	y := newWitnessKey(t, "y.witness.example", 0x34, at(1))
	otherPolicy := mustParsePolicy(t, "log "+log.vkey+"\nwitness Y "+y.vkey+"\nquorum none\n")
	if got, _, ok := signer.EarliestCosignature(n, otherPolicy); ok {
		t.Errorf("with a policy of other witnesses: %v, want none", got)
	}
	if _, _, ok := signer.EarliestCosignature(nil, policy); ok {
		t.Error("nil note: ok")
	}
	if _, _, ok := signer.EarliestCosignature(n, nil); ok {
		t.Error("nil policy: ok")
	}
	if strings.Count(string(msg), "\n— ") != 4 {
		t.Fatalf("the note has not 4 signature lines:\n%s", msg)
	}
}

// x2WithClock is X2's key signing at another time.
func x2WithClock(t *testing.T, k witnessKey, now func() time.Time) *signer.Cosigner {
	t.Helper()
	c, err := signer.NewCosigner(k.skey, now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
