package signer_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tlogai/tlog/signer"
)

// The oracle here is c2sp.org/tlog-policy: its example policy, its syntax
// rules (transcribed as the rejection table) and its quorum semantics, which
// quorumXY and evalRule below evaluate by brute force, independently of the
// code under test. Cosignatures come from our Cosigner and from torchwood's.

// policyKeys are the keys of the spec's example: one log and six witnesses.
// Policy names (X1…) differ from key names (x1.witness.example) on purpose.
type policyKeys struct {
	log testKey
	w   map[string]witnessKey // by policy name
}

var exampleNames = []string{"X1", "X2", "X3", "Y1", "Y2", "Y3"}

func newPolicyKeys(t testing.TB) policyKeys {
	t.Helper()
	k := policyKeys{log: newTestKey(t, "example.com/log", 1), w: map[string]witnessKey{}}
	clock := fixedClock(time.Unix(1700000000, 0))
	for i, n := range exampleNames {
		k.w[n] = newWitnessKey(t, strings.ToLower(n)+".witness.example", byte(0x20+i), clock)
	}
	return k
}

// examplePolicy is the example of c2sp.org/tlog-policy with real keys.
func (k policyKeys) examplePolicy() string {
	return "log " + k.log.vkey + "\n" +
		"\n" +
		"witness X1 " + k.w["X1"].vkey + "\n" +
		"witness X2 " + k.w["X2"].vkey + "\n" +
		"witness X3 " + k.w["X3"].vkey + "\n" +
		"group X-witnesses 2 X1 X2 X3\n" +
		"\n" +
		"witness Y1 " + k.w["Y1"].vkey + "\n" +
		"witness Y2 " + k.w["Y2"].vkey + "\n" +
		"witness Y3 " + k.w["Y3"].vkey + "\n" +
		"group Y-witnesses any Y1 Y2 Y3\n" +
		"\n" +
		"group X-and-Y all X-witnesses Y-witnesses\n" +
		"quorum X-and-Y\n"
}

// quorumXY is the example's rule as the spec states it: at least two of
// the X witnesses and at least one of the Y witnesses.
func quorumXY(set map[string]bool) bool {
	x, y := 0, 0
	for _, n := range []string{"X1", "X2", "X3"} {
		if set[n] {
			x++
		}
	}
	for _, n := range []string{"Y1", "Y2", "Y3"} {
		if set[n] {
			y++
		}
	}
	return x >= 2 && y >= 1
}

// subset returns the names whose bit is set in mask.
func subset(names []string, mask int) map[string]bool {
	s := map[string]bool{}
	for i, n := range names {
		if mask&(1<<i) != 0 {
			s[n] = true
		}
	}
	return s
}

func setString(s map[string]bool) string {
	var names []string
	for n := range s {
		names = append(names, n)
	}
	slices.Sort(names)
	return "{" + strings.Join(names, ",") + "}"
}

// checkpointFor is a checkpoint of the log, the one every note here signs.
func checkpointFor(origin string) signer.Checkpoint {
	return signer.Checkpoint{Origin: origin, Size: 20852163, Hash: testRoot("policy")}
}

// cosignedNote signs the checkpoint text with the log and has the named
// witnesses cosign it; impl picks ours ("ours"), torchwood's ("torchwood")
// or alternates between them ("mixed").
func (k policyKeys) cosignedNote(t testing.TB, text string, names map[string]bool, impl string) []byte {
	t.Helper()
	var ours []signer.NoteSigner
	var theirs []note.Signer
	i := 0
	for _, n := range exampleNames {
		if !names[n] {
			continue
		}
		w := k.w[n]
		useOurs := impl == "ours" || impl == "mixed" && i%2 == 0
		i++
		if useOurs {
			ours = append(ours, w.c)
		} else {
			theirs = append(theirs, w.tw)
		}
	}
	msg, err := signer.SignNote(text, append([]signer.NoteSigner{k.log.s}, ours...)...)
	if err != nil {
		t.Fatal(err)
	}
	if len(theirs) == 0 {
		return msg
	}
	// Append torchwood's cosignature lines to the note.
	tmsg, err := note.Sign(&note.Note{Text: text}, theirs...)
	if err != nil {
		t.Fatal(err)
	}
	return append(msg, tmsg[len(text)+1:]...)
}

func mustParsePolicy(t testing.TB, text string) *signer.Policy {
	t.Helper()
	p, err := signer.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatalf("ParsePolicy(%q): %v", text, err)
	}
	return p
}

func TestParsePolicySpecExample(t *testing.T) {
	k := newPolicyKeys(t)
	p := mustParsePolicy(t, k.examplePolicy())
	if len(p.Logs) != 1 || p.Logs[0].Verifier.String() != k.log.vkey || p.Logs[0].URL != "" {
		t.Errorf("Logs = %+v, want the one log %q", p.Logs, k.log.vkey)
	}
	if len(p.Witnesses) != len(exampleNames) {
		t.Fatalf("%d witnesses, want %d", len(p.Witnesses), len(exampleNames))
	}
	for i, w := range p.Witnesses {
		if w.Name != exampleNames[i] || w.Verifier.String() != k.w[exampleNames[i]].vkey || w.URL != "" {
			t.Errorf("witness %d = %s %s %q, want %s %s", i, w.Name, w.Verifier, w.URL, exampleNames[i], k.w[exampleNames[i]].vkey)
		}
	}
	if !p.Witnessed() {
		t.Error("Witnessed() = false for a policy with a quorum")
	}
	// QuorumMet takes policy names: key names and group names do not count.
	keyNamesSet := map[string]bool{"X-witnesses": true, "Y-witnesses": true, "X-and-Y": true}
	for _, n := range exampleNames {
		keyNamesSet[k.w[n].name] = true
	}
	if p.QuorumMet(keyNamesSet) {
		t.Errorf("QuorumMet(%s) = true; none of these is a witness's policy name", setString(keyNamesSet))
	}
	for mask := 0; mask < 1<<len(exampleNames); mask++ {
		set := subset(exampleNames, mask)
		if got, want := p.QuorumMet(set), quorumXY(set); got != want {
			t.Errorf("QuorumMet(%s) = %v, spec rule says %v", setString(set), got, want)
		}
	}

	// URLs are kept.
	withURLs := strings.Replace(k.examplePolicy(), k.log.vkey, k.log.vkey+" https://log.example/", 1)
	withURLs = strings.Replace(withURLs, k.w["Y2"].vkey, k.w["Y2"].vkey+" https://y2.example/prefix", 1)
	p = mustParsePolicy(t, withURLs)
	if p.Logs[0].URL != "https://log.example/" || p.Witnesses[4].URL != "https://y2.example/prefix" || p.Witnesses[3].URL != "" {
		t.Errorf("URLs: log %q, Y2 %q, Y1 %q", p.Logs[0].URL, p.Witnesses[4].URL, p.Witnesses[3].URL)
	}
}

// Layout the spec allows: comments, blank and whitespace-only lines, tabs,
// runs of whitespace, leading and trailing whitespace, lines in any order
// where the spec does not constrain it, high-bit octets in comments.
func TestParsePolicyAcceptsLayout(t *testing.T) {
	k := newPolicyKeys(t)
	v := func(n string) string { return k.w[n].vkey }
	variants := map[string]string{
		"comments and blank lines": "# A policy\n#\n#no space after the hash\n\n   \n\t\n \t \n" +
			k.examplePolicy() + "# trailing comment\n\n",
		"indented comments": "  # indented\n\t# tab-indented\n \t#mixed\n" + k.examplePolicy(),
		"tabs and runs of whitespace": "log\t" + k.log.vkey + "\n" +
			"witness \t X1\t\t" + v("X1") + "\n" +
			"witness  X2   " + v("X2") + "\n" +
			"witness\tX3\t" + v("X3") + "\n" +
			"group\tX-witnesses\t2\tX1\tX2\tX3\n" +
			"witness Y1 " + v("Y1") + "\nwitness Y2 " + v("Y2") + "\nwitness Y3 " + v("Y3") + "\n" +
			"group Y-witnesses  any  Y1 \t Y2\t \tY3\n" +
			"group X-and-Y all X-witnesses Y-witnesses\n" +
			"quorum\t\tX-and-Y\n",
		"leading and trailing whitespace": func() string {
			var b strings.Builder
			for i, line := range strings.Split(strings.TrimSuffix(k.examplePolicy(), "\n"), "\n") {
				b.WriteString([]string{" ", "\t", "  \t", ""}[i%4] + line + []string{"\t", " ", "", " \t "}[i%4] + "\n")
			}
			return b.String()
		}(),
		"log line last, witnesses in another order": "witness Y3 " + v("Y3") + "\n" +
			"witness X2 " + v("X2") + "\nwitness Y1 " + v("Y1") + "\nwitness X1 " + v("X1") + "\n" +
			"witness X3 " + v("X3") + "\nwitness Y2 " + v("Y2") + "\n" +
			"group X-witnesses 2 X3 X1 X2\n" +
			"group Y-witnesses any Y2 Y3 Y1\n" +
			"group X-and-Y 2 Y-witnesses X-witnesses\n" +
			"quorum X-and-Y\n" +
			"log " + k.log.vkey + "\n",
		"non-ASCII comments": "# Zeugen für das Protokoll — ✓\n# \xff\xfe raw octets\n" + k.examplePolicy(),
	}
	for what, text := range variants {
		p, err := signer.ParsePolicy([]byte(text))
		if err != nil {
			t.Errorf("%s: ParsePolicy: %v\n%s", what, err, text)
			continue
		}
		if len(p.Logs) != 1 || len(p.Witnesses) != 6 || !p.Witnessed() {
			t.Errorf("%s: %d logs, %d witnesses, witnessed %v", what, len(p.Logs), len(p.Witnesses), p.Witnessed())
		}
		for mask := 0; mask < 1<<len(exampleNames); mask++ {
			set := subset(exampleNames, mask)
			if got, want := p.QuorumMet(set), quorumXY(set); got != want {
				t.Errorf("%s: QuorumMet(%s) = %v, spec rule says %v", what, setString(set), got, want)
			}
		}
	}
}

// Names are opaque octet strings: "K" and the Kelvin sign (U+212A) are two
// names, and octets 0x80–0xFF may appear even if they are not UTF-8.
func TestParsePolicyOpaqueNames(t *testing.T) {
	k := newPolicyKeys(t)
	text := "log " + k.log.vkey + "\n" +
		"witness K " + k.w["X1"].vkey + "\n" +
		"witness \u212a " + k.w["X2"].vkey + "\n" +
		"witness w\xff\x80 " + k.w["X3"].vkey + "\n" +
		"group g\xe9 2 K \u212a w\xff\x80\n" +
		"quorum g\xe9\n"
	p := mustParsePolicy(t, text)
	names := []string{"K", "\u212a", "w\xff\x80"}
	for i, w := range p.Witnesses {
		if w.Name != names[i] {
			t.Errorf("witness %d named %q, want %q", i, w.Name, names[i])
		}
	}
	for mask := 0; mask < 8; mask++ {
		set := subset(names, mask)
		if got, want := p.QuorumMet(set), len(set) >= 2; got != want {
			t.Errorf("QuorumMet(%q) = %v, want %v", setString(set), got, want)
		}
	}
}

func TestParsePolicyRejects(t *testing.T) {
	k := newPolicyKeys(t)
	v := func(n string) string { return k.w[n].vkey }
	logL := "log " + k.log.vkey + "\n"
	wit := func(ns ...string) string {
		var b strings.Builder
		for _, n := range ns {
			b.WriteString("witness " + n + " " + v(n) + "\n")
		}
		return b.String()
	}
	base := logL + wit("X1", "X2", "X3")
	// The key of X1 under another key name (so another key ID).
	x1 := k.w["X1"]
	x1Renamed := keyVariant{name: "renamed.witness.example", typ: 0x04, key: x1.pub}.String()
	logRenamed := keyVariant{name: "example.com/other-log", typ: 0x01, key: mustTypedPub(t, k.log.vkey)[1:]}.String()
	otherLog := newTestKey(t, "example.com/log2", 0x77)

	cases := map[string]string{
		// Names defined before use.
		"undefined member":            base + "group g any X1 Z9\nquorum g\n",
		"member defined later":        logL + wit("X1", "X2") + "group g 2 X1 X2 X3\n" + wit("X3") + "quorum g\n",
		"group member defined later":  base + "group g all h X1\ngroup h any X2 X3\nquorum g\n",
		"self-referencing group":      base + "group g any g X1\nquorum g\n",
		"quorum before its witness":   logL + wit("X1") + "quorum X2\n" + wit("X2"),
		"quorum before its group":     base + "quorum g\ngroup g any X1 X2\n",
		"quorum naming an undefined":  base + "quorum Z9\n",
		"quorum naming a log key":     base + "quorum example.com/log\n",
		"quorum naming a witness key": base + "quorum " + x1.name + "\n",
		// Each member once per group.
		"member twice":           base + "group g 2 X1 X1\nquorum g\n",
		"member twice, apart":    base + "group g any X1 X2 X3 X1\nquorum g\n",
		"subgroup twice":         base + "group h any X1 X2\ngroup g all h X3 h\nquorum g\n",
		"member twice with all":  base + "group g all X1 X2 X2\nquorum g\n",
		"member twice with any":  base + "group g any X3 X3\nquorum g\n",
		"member twice, both odd": base + "group g 1 X1 X1 X1\nquorum g\n",
		// 1 ≤ k ≤ n, decimal.
		"k = 0":            base + "group g 0 X1 X2\nquorum g\n",
		"k > n":            base + "group g 3 X1 X2\nquorum g\n",
		"k > n, one":       base + "group g 2 X1\nquorum g\n",
		"k leading zero":   base + "group g 02 X1 X2 X3\nquorum g\n",
		"k = 01":           base + "group g 01 X1 X2\nquorum g\n",
		"k = 00":           base + "group g 00 X1 X2\nquorum g\n",
		"k negative":       base + "group g -1 X1 X2\nquorum g\n",
		"k with plus":      base + "group g +1 X1 X2\nquorum g\n",
		"k hex":            base + "group g 0x1 X1 X2\nquorum g\n",
		"k fraction":       base + "group g 1.0 X1 X2\nquorum g\n",
		"k huge":           base + "group g 18446744073709551617 X1 X2\nquorum g\n",
		"k 2^64-1":         base + "group g 18446744073709551615 X1 X2\nquorum g\n",
		"k word":           base + "group g two X1 X2\nquorum g\n",
		"ALL in capitals":  base + "group g ALL X1 X2\nquorum g\n",
		"Any capitalized":  base + "group g Any X1 X2\nquorum g\n",
		"k full-width one": base + "group g \uff11 X1 X2\nquorum g\n",
		// At least one member.
		"group all, no members": base + "group g all\nquorum g\n",
		"group any, no members": base + "group g any\nquorum g\n",
		"group 1, no members":   base + "group g 1\nquorum g\n",
		"group name only":       base + "group g\nquorum X1\n",
		"group keyword only":    base + "group\nquorum X1\n",
		// One namespace; names defined once.
		"witness name twice":           base + "witness X1 " + v("Y1") + "\nquorum X1\n",
		"group named as a witness":     base + "group X1 any X2 X3\nquorum X1\n",
		"witness named as a group":     base + "group g any X1 X2\nwitness g " + v("Y1") + "\nquorum g\n",
		"group name twice":             base + "group g any X1 X2\ngroup g any X3\nquorum g\n",
		"witness named none":           base + "witness none " + v("Y1") + "\nquorum X1\n",
		"group named none":             base + "group none any X1 X2\nquorum X1\n",
		"group named none, quorum it":  base + "group none any X1 X2\nquorum none\n",
		"none as a member":             base + "group g any X1 none\nquorum g\n",
		"none as the only member":      base + "group g any none\nquorum g\n",
		"none as a member, quorum non": base + "group g all none\nquorum none\n",
		// Exactly one quorum line.
		"two quorum lines":           base + "quorum X1\nquorum X2\n",
		"two equal quorum lines":     base + "quorum X1\nquorum X1\n",
		"two quorum none lines":      base + "quorum none\nquorum none\n",
		"quorum none and a name":     base + "quorum none\nquorum X1\n",
		"no quorum line":             base + "group g any X1 X2\n",
		"empty file":                 "",
		"only comments":              "# nothing\n\n",
		"quorum keyword only":        base + "quorum\n",
		"quorum with two names":      base + "quorum X1 X2\n",
		"quorum none with extra":     base + "quorum none X1\n",
		"commented-out quorum only":  base + "# quorum X1\n",
		"quorum in a trailing field": base + "group g any X1 quorum\n",
		// No duplicate keys.
		"duplicate witness key, same vkey": base + "witness X4 " + v("X1") + "\nquorum X1\n",
		"duplicate witness key, renamed":   base + "witness X4 " + x1Renamed + "\nquorum X1\n",
		"duplicate log key":                base + logL + "quorum X1\n",
		"duplicate log key, renamed":       base + "log " + logRenamed + "\nquorum X1\n",
		// Key types per role.
		"witness with a log (0x01) key":     base + "witness L " + otherLog.vkey + "\nquorum X1\n",
		"witness with this log's key":       base + "witness L " + k.log.vkey + "\nquorum X1\n",
		"log with a witness (0x04) key":     base + "log " + v("Y1") + "\nquorum X1\n",
		"log with a witness's signer key":   base + "log " + k.w["Y1"].skey + "\nquorum X1\n",
		"witness with a signer key":         base + "witness Y1 " + k.w["Y1"].skey + "\nquorum X1\n",
		"witness vkey with wrong key ID":    base + "witness Y1 " + keyVariant{name: "y", typ: 0x04, key: k.w["Y1"].pub, id: ptr(uint32(7))}.String() + "\nquorum X1\n",
		"witness vkey with 0x01 key ID":     base + "witness Y1 " + keyVariant{name: "y", typ: 0x04, key: k.w["Y1"].pub, id: ptr(specKeyID("y", append([]byte{0x01}, k.w["Y1"].pub...)))}.String() + "\nquorum X1\n",
		"witness vkey with bad base64":      base + "witness Y1 y+01020304+!!!!\nquorum X1\n",
		"log vkey with bad base64":          base + "log example.com/log+01020304+AAA*\nquorum X1\n",
		"witness vkey without key ID":       base + "witness Y1 y+" + base64.StdEncoding.EncodeToString(append([]byte{4}, k.w["Y1"].pub...)) + "\nquorum X1\n",
		"witness vkey, 31-byte key":         base + "witness Y1 " + keyVariant{name: "y", typ: 0x04, key: k.w["Y1"].pub[:31]}.String() + "\nquorum X1\n",
		"log vkey, 33-byte key":             base + "log " + keyVariant{name: "l", typ: 0x01, key: append(bytes.Clone(k.w["Y1"].pub), 0)}.String() + "\nquorum X1\n",
		"witness key is the name":           base + "witness Y1 Y1\nquorum X1\n",
		"log line without a key but a URL":  base + "log https://log.example/\nquorum X1\n",
		"witness line missing the name":     base + "witness " + v("Y1") + "\nquorum X1\n",
		"witness line missing the key":      base + "witness Y1\nquorum X1\n",
		"witness keyword only":              base + "witness\nquorum X1\n",
		"log keyword only":                  base + "log\nquorum X1\n",
		"name and key swapped":              base + "witness " + v("Y1") + " Y1\nquorum X1\n",
		"too many fields: log":              base + "log " + otherLog.vkey + " https://a.example/ extra\nquorum X1\n",
		"too many fields: witness":          base + "witness Y1 " + v("Y1") + " https://a.example/ extra\nquorum X1\n",
		"too many fields: trailing comment": base + "witness Y1 " + v("Y1") + " https://a.example/ # comment\nquorum X1\n",
		"too many fields: quorum":           base + "quorum X1 # the quorum\n",
		// Octets: only tab, newline, 0x20–0x7E, 0x80–0xFF.
		"CRLF line endings":     strings.ReplaceAll(base+"quorum X1\n", "\n", "\r\n"),
		"CR in a comment":       "# a\rb\n" + base + "quorum X1\n",
		"NUL":                   base + "quorum X1\n\x00",
		"NUL in a comment":      "# \x00\n" + base + "quorum X1\n",
		"vertical tab":          base + "quorum\vX1\n",
		"vertical tab, line":    base + "\v\nquorum X1\n",
		"form feed":             base + "\f\nquorum X1\n",
		"escape":                base + "# \x1b[31m\nquorum X1\n",
		"DEL":                   base + "# \x7f\nquorum X1\n",
		"DEL in a name":         base + "group g\x7f any X1\nquorum g\x7f\n",
		"control 0x01 in name":  base + "group g\x01 any X1\nquorum g\x01\n",
		"bare CR as separator":  base + "quorum X1\rgroup g any X2\n",
		"no-break space is not": base + "quorum\u00a0X1\n",
		// Keywords.
		"unknown keyword":             base + "witnesses Y1 " + v("Y1") + "\nquorum X1\n",
		"capitalized keyword":         base + "Quorum X1\n",
		"capitalized log":             "Log " + k.log.vkey + "\n" + wit("X1") + "quorum X1\n",
		"keyword with colon":          base + "quorum: X1\n",
		"garbage line":                base + "hello world\nquorum X1\n",
		"comment not at line start":   base + "quorum X1 #c\n",
		"threshold keyword as a line": base + "any X1 X2\nquorum X1\n",
	}
	for what, text := range cases {
		p, err := signer.ParsePolicy([]byte(text))
		if err == nil {
			t.Errorf("%s: ParsePolicy(%q) succeeded (%d logs, %d witnesses), want error", what, text, len(p.Logs), len(p.Witnesses))
			continue
		}
		if !errors.Is(err, signer.ErrMalformedPolicy) {
			t.Errorf("%s: ParsePolicy error %v, want ErrMalformedPolicy", what, err)
		}
	}

	// The same texts with the offending part fixed parse: the table's
	// failures are about the rule each breaks.
	for what, text := range map[string]string{
		"all three defined":      base + "group g 2 X1 X2 X3\nquorum g\n",
		"k = n":                  base + "group g 2 X1 X2\nquorum g\n",
		"k = 1":                  base + "group g 1 X1\nquorum g\n",
		"any of one":             base + "group g any X1\nquorum g\n",
		"all of one":             base + "group g all X1\nquorum g\n",
		"quorum a witness":       base + "quorum X1\n",
		"quorum none":            base + "quorum none\n",
		"quorum none, nothing":   "quorum none\n",
		"quorum none, no logs":   wit("X1") + "quorum none\n",
		"nested":                 base + "group h any X1 X2\ngroup g all h X3\nquorum g\n",
		"two logs":               base + "log " + otherLog.vkey + "\nquorum X1\n",
		"URLs":                   "log " + k.log.vkey + " https://l.example/\nwitness X1 " + v("X1") + " https://w.example/\nquorum X1\n",
		"names like keywords":    base + "group any any X1\ngroup all all any X2\ngroup 2 2 all X3 X1\nquorum 2\n",
		"witness after quorum":   base + "quorum X1\nwitness Y1 " + v("Y1") + "\n",
		"quorum line indented":   base + "   quorum X1\n",
		"unused witnesses/group": base + "group g any X2 X3\nquorum X1\n",
	} {
		if _, err := signer.ParsePolicy([]byte(text)); err != nil {
			t.Errorf("%s: ParsePolicy(%q): %v", what, text, err)
		}
	}
}

// allSubsetsCheck runs Check and QuorumMet for every subset of the example's
// six witnesses and compares with want.
func allSubsetsCheck(t *testing.T, k policyKeys, p *signer.Policy, want func(map[string]bool) bool, impls []string) {
	t.Helper()
	c := checkpointFor(k.log.s.Name())
	for _, impl := range impls {
		for mask := 0; mask < 1<<len(exampleNames); mask++ {
			set := subset(exampleNames, mask)
			msg := k.cosignedNote(t, c.Text(), set, impl)
			got, n, err := p.Check(msg)
			w := want(set)
			if qm := p.QuorumMet(set); qm != w {
				t.Errorf("QuorumMet(%s) = %v, want %v", setString(set), qm, w)
			}
			if w {
				if err != nil {
					t.Errorf("%s: Check with cosignatures of %s: %v, want success", impl, setString(set), err)
					continue
				}
				if got.Origin != c.Origin || got.Size != c.Size || got.Hash != c.Hash {
					t.Errorf("%s: Check returned %+v, want %+v", impl, got, c)
				}
				if n == nil || n.Text != c.Text() || len(n.Sigs) != 1+len(set) {
					t.Errorf("%s %s: Check note %+v, want the log signature and %d cosignatures", impl, setString(set), n, len(set))
				}
			} else {
				if err == nil {
					t.Errorf("%s: Check with cosignatures of %s succeeded, want quorum failure", impl, setString(set))
				} else if !errors.Is(err, signer.ErrQuorum) {
					t.Errorf("%s: Check with cosignatures of %s: %v, want ErrQuorum", impl, setString(set), err)
				}
			}
		}
	}
}

func TestPolicyCheckSpecExampleAllSubsets(t *testing.T) {
	k := newPolicyKeys(t)
	p := mustParsePolicy(t, k.examplePolicy())
	allSubsetsCheck(t, k, p, quorumXY, []string{"ours", "torchwood", "mixed"})
}

func TestPolicyCheckSingleWitness(t *testing.T) {
	k := newPolicyKeys(t)
	for _, q := range exampleNames {
		text := "log " + k.log.vkey + "\n"
		for _, n := range exampleNames {
			text += "witness " + n + " " + k.w[n].vkey + "\n"
		}
		p := mustParsePolicy(t, text+"quorum "+q+"\n")
		allSubsetsCheck(t, k, p, func(s map[string]bool) bool { return s[q] }, []string{"mixed"})
	}
}

func TestPolicyCheckKOfN(t *testing.T) {
	k := newPolicyKeys(t)
	text := "log " + k.log.vkey + "\n"
	for _, n := range exampleNames {
		text += "witness " + n + " " + k.w[n].vkey + "\n"
	}
	members := " X1 X2 X3 Y1 Y2\n" // Y3 is known but in no group
	for _, th := range []string{"1", "2", "3", "4", "5", "any", "all"} {
		want := map[string]int{"any": 1, "all": 5}[th]
		if want == 0 {
			want = int(th[0] - '0')
		}
		p := mustParsePolicy(t, text+"group g "+th+members+"quorum g\n")
		t.Run(th, func(t *testing.T) {
			allSubsetsCheck(t, k, p, func(s map[string]bool) bool {
				n := 0
				for _, m := range strings.Fields(members) {
					if s[m] {
						n++
					}
				}
				return n >= want
			}, []string{"ours", "torchwood"})
		})
	}
}

func TestPolicyCheckQuorumNone(t *testing.T) {
	k := newPolicyKeys(t)
	c := checkpointFor(k.log.s.Name())
	for what, text := range map[string]string{
		"no witnesses":   "log " + k.log.vkey + "\nquorum none\n",
		"with witnesses": "log " + k.log.vkey + "\nwitness X1 " + k.w["X1"].vkey + "\ngroup g any X1\nquorum none\n",
	} {
		p := mustParsePolicy(t, text)
		if p.Witnessed() {
			t.Errorf("%s: Witnessed() = true for quorum none", what)
		}
		if !p.QuorumMet(nil) || !p.QuorumMet(map[string]bool{}) {
			t.Errorf("%s: QuorumMet(none) = false for quorum none", what)
		}
		msg, err := signer.SignCheckpoint(c, k.log.s)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := p.Check(msg); err != nil || got.Size != c.Size {
			t.Errorf("%s: Check(log signature only) = %+v, %v", what, got, err)
		}
		if _, _, err := p.Check(k.cosignedNote(t, c.Text(), map[string]bool{"X1": true, "Y1": true}, "mixed")); err != nil {
			t.Errorf("%s: Check(cosigned) = %v", what, err)
		}
		// The log signature is still needed.
		onlyW, err := signer.SignNote(c.Text(), k.w["X1"].c)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Check(onlyW); err == nil {
			t.Errorf("%s: Check of a note with no log signature succeeded", what)
		}
	}
}

// Cosignatures by keys the policy does not know are ignored: they neither
// count towards the quorum nor reject the note.
func TestPolicyCheckIgnoresUnknownWitnesses(t *testing.T) {
	k := newPolicyKeys(t)
	p := mustParsePolicy(t, k.examplePolicy())
	c := checkpointFor(k.log.s.Name())
	clock := fixedClock(time.Unix(1700000000, 0))
	stranger := newWitnessKey(t, "stranger.witness.example", 0x60, clock)
	// Same key name as X1, another key: another key ID.
	impostor := newWitnessKey(t, k.w["X1"].name, 0x61, clock)
	// X1's key under another name.
	renamed := newWitnessKey(t, "renamed.witness.example", 0x20, clock)
	if !renamed.pub.Equal(k.w["X1"].pub) {
		t.Fatal("renamed is not X1's key")
	}
	extra := func(t *testing.T, set map[string]bool, signers ...signer.NoteSigner) []byte {
		msg := k.cosignedNote(t, c.Text(), set, "mixed")
		more, err := signer.SignNote(c.Text(), signers...)
		if err != nil {
			t.Fatal(err)
		}
		return append(msg, more[len(c.Text())+1:]...)
	}
	// Quorum met by known witnesses: strangers do not spoil it.
	met := map[string]bool{"X1": true, "X2": true, "Y3": true}
	if _, n, err := p.Check(extra(t, met, stranger.c, impostor.c, renamed.c)); err != nil {
		t.Errorf("Check with extra unknown cosignatures: %v", err)
	} else if len(n.UnverifiedSigs) != 3 {
		t.Errorf("Check: %d unverified signatures, want the 3 unknown", len(n.UnverifiedSigs))
	}
	// A forged cosignature under an unknown key is not checked either.
	forged := extra(t, met) // then a junk line for an unknown key
	forged = append(forged, specSigLine("stranger.witness.example", stranger.c.KeyHash(), bytes.Repeat([]byte{1}, 72))...)
	if _, _, err := p.Check(forged); err != nil {
		t.Errorf("Check with a junk cosignature by an unknown key: %v", err)
	}
	// Not met without them: unknown keys (also X1's name or X1's key
	// under another name) do not stand in for X1.
	notMet := map[string]bool{"X2": true, "Y3": true}
	for _, s := range []witnessKey{stranger, impostor, renamed} {
		if _, _, err := p.Check(extra(t, notMet, s.c)); !errors.Is(err, signer.ErrQuorum) {
			t.Errorf("Check with X2, Y3 and %s+%08x: %v, want ErrQuorum", s.name, s.c.KeyHash(), err)
		}
	}
}

// A known witness's bad cosignature rejects the note, quorum or not.
func TestPolicyCheckRejectsBadCosignature(t *testing.T) {
	k := newPolicyKeys(t)
	p := mustParsePolicy(t, k.examplePolicy())
	c := checkpointFor(k.log.s.Name())
	all := subset(exampleNames, 1<<len(exampleNames)-1)
	for _, impl := range []string{"ours", "torchwood"} {
		msg := k.cosignedNote(t, c.Text(), all, impl)
		if _, _, err := p.Check(msg); err != nil {
			t.Fatalf("%s: Check of the untouched note: %v", impl, err)
		}
		lines := sigLines(msg)
		for li := 1; li < len(lines); li++ {
			for _, bi := range []int{4, 11, 12, 50, 75} {
				raw := sigBytes(t, lines[li])
				raw[bi] ^= 0x10
				name := strings.Fields(strings.TrimPrefix(lines[li], "\u2014 "))[0]
				bad := slices.Clone(lines)
				bad[li] = "\u2014 " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
				badMsg := c.Text() + "\n" + strings.Join(bad, "")
				if _, _, err := p.Check([]byte(badMsg)); !errors.Is(err, signer.ErrInvalidSignature) {
					t.Errorf("%s: byte %d of %s's cosignature flipped: Check error %v, want ErrInvalidSignature", impl, bi, name, err)
				}
			}
		}
	}
	// A valid cosignature of another checkpoint, pasted in.
	other := checkpointFor(k.log.s.Name())
	other.Size++
	otherMsg := k.cosignedNote(t, other.Text(), map[string]bool{"Y2": true}, "ours")
	msg := k.cosignedNote(t, c.Text(), map[string]bool{"X1": true, "X2": true, "Y1": true}, "ours")
	msg = append(msg, sigLines(otherMsg)[1]...)
	if _, _, err := p.Check(msg); !errors.Is(err, signer.ErrInvalidSignature) {
		t.Errorf("Check with Y2's cosignature of another checkpoint: %v, want ErrInvalidSignature", err)
	}
}

// The checkpoint must be the policy log's: its signature, its origin.
func TestPolicyCheckLogSignature(t *testing.T) {
	k := newPolicyKeys(t)
	p := mustParsePolicy(t, k.examplePolicy())
	all := subset(exampleNames, 1<<len(exampleNames)-1)
	c := checkpointFor(k.log.s.Name())

	// Origin differs from the log's key name, though the log key signed it.
	for _, origin := range []string{"example.com/other", "example.com/log/", "Example.com/log", x1Name(k)} {
		oc := checkpointFor(origin)
		msg := k.cosignedNote(t, oc.Text(), all, "mixed")
		if got, _, err := p.Check(msg); err == nil {
			t.Errorf("Check of a checkpoint with origin %q signed by %q = %+v, want error", origin, k.log.s.Name(), got)
		}
	}

	// No log signature, quorum met.
	var ws []signer.NoteSigner
	for _, n := range exampleNames {
		ws = append(ws, k.w[n].c)
	}
	onlyW, err := signer.SignNote(c.Text(), ws...)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Check(onlyW); err == nil {
		t.Error("Check of a note with cosignatures but no log signature succeeded")
	}
	// Signed by another log key of the same name: unknown, so unsigned.
	imp := newTestKey(t, k.log.s.Name(), 0x55)
	impMsg, err := signer.SignNote(c.Text(), append([]signer.NoteSigner{imp.s}, ws...)...)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Check(impMsg); err == nil {
		t.Error("Check of a note signed by another key named as the log succeeded")
	}
	// A bad log signature.
	msg := k.cosignedNote(t, c.Text(), all, "ours")
	lines := sigLines(msg)
	raw := sigBytes(t, lines[0])
	raw[10] ^= 1
	lines[0] = specSigLine(k.log.s.Name(), k.log.s.KeyHash(), raw[4:])
	if _, _, err := p.Check([]byte(c.Text() + "\n" + strings.Join(lines, ""))); !errors.Is(err, signer.ErrInvalidSignature) {
		t.Errorf("Check with a bad log signature: %v, want ErrInvalidSignature", err)
	}
	// Not a checkpoint at all (a note the log signed).
	junk, err := signer.SignNote("hello\n", k.log.s)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Check(junk); err == nil {
		t.Error("Check of a signed non-checkpoint succeeded")
	}
	// Not a note.
	if _, _, err := p.Check([]byte(c.Text())); err == nil {
		t.Error("Check of an unsigned checkpoint succeeded")
	}
}

func x1Name(k policyKeys) string { return k.w["X1"].name }

// With several logs, each one's checkpoints pass, and only under its own
// origin.
func TestPolicyCheckSeveralLogs(t *testing.T) {
	k := newPolicyKeys(t)
	log2 := newTestKey(t, "example.org/log2", 0x44)
	p := mustParsePolicy(t, "log "+k.log.vkey+"\nlog "+log2.vkey+" https://log2.example.org/\n"+
		"witness X1 "+k.w["X1"].vkey+"\nquorum X1\n")
	for _, l := range []testKey{k.log, log2} {
		c := checkpointFor(l.s.Name())
		msg, err := signer.SignNote(c.Text(), l.s, k.w["X1"].c)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := p.Check(msg); err != nil || got.Origin != l.s.Name() {
			t.Errorf("Check of %s's checkpoint = %+v, %v", l.s.Name(), got, err)
		}
		// The other log's origin under this log's signature.
		o := k.log
		if l.s.Name() == k.log.s.Name() {
			o = log2
		}
		cross, err := signer.SignNote(checkpointFor(o.s.Name()).Text(), l.s, k.w["X1"].c)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Check(cross); err == nil {
			t.Errorf("Check of a checkpoint with origin %s signed by %s succeeded", o.s.Name(), l.s.Name())
		}
	}
}

// Random nested policies: QuorumMet agrees with a brute-force evaluation of
// the rule for every subset, and Check agrees on a sample of notes.
func TestPolicyRandomNested(t *testing.T) {
	k := newPolicyKeys(t)
	r := rand.New(rand.NewPCG(1, 2))
	c := checkpointFor(k.log.s.Name())

	type rule struct {
		witness string
		k       int
		members []*rule
	}
	var eval func(*rule, map[string]bool) bool
	eval = func(g *rule, s map[string]bool) bool {
		if g.members == nil {
			return s[g.witness]
		}
		n := 0
		for _, m := range g.members {
			if eval(m, s) {
				n++
			}
		}
		return n >= g.k
	}
	for iter := 0; iter < 200; iter++ {
		var b strings.Builder
		b.WriteString("log " + k.log.vkey + "\n")
		defined := map[string]*rule{}
		var order []string
		for _, n := range exampleNames {
			fmt.Fprintf(&b, "witness %s %s\n", n, k.w[n].vkey)
			defined[n] = &rule{witness: n}
			order = append(order, n)
		}
		groups := 1 + r.IntN(5)
		for gi := 0; gi < groups; gi++ {
			perm := r.Perm(len(order))
			nm := 1 + r.IntN(min(4, len(order)))
			g := &rule{}
			var names []string
			for _, i := range perm[:nm] {
				names = append(names, order[i])
				g.members = append(g.members, defined[order[i]])
			}
			var th string
			switch x := r.IntN(4); x {
			case 0:
				th, g.k = "any", 1
			case 1:
				th, g.k = "all", nm
			default:
				g.k = 1 + r.IntN(nm)
				th = fmt.Sprint(g.k)
			}
			name := fmt.Sprintf("G%d", gi)
			fmt.Fprintf(&b, "group %s %s %s\n", name, th, strings.Join(names, " "))
			defined[name] = g
			order = append(order, name)
		}
		q := order[len(order)-1]
		if r.IntN(5) == 0 {
			q = order[r.IntN(len(order))]
		}
		fmt.Fprintf(&b, "quorum %s\n", q)
		p, err := signer.ParsePolicy([]byte(b.String()))
		if err != nil {
			t.Fatalf("ParsePolicy(%q): %v", b.String(), err)
		}
		for mask := 0; mask < 1<<len(exampleNames); mask++ {
			set := subset(exampleNames, mask)
			want := eval(defined[q], set)
			if got := p.QuorumMet(set); got != want {
				t.Errorf("policy\n%s\nQuorumMet(%s) = %v, want %v", b.String(), setString(set), got, want)
			}
			if iter%20 == 0 {
				_, _, err := p.Check(k.cosignedNote(t, c.Text(), set, "mixed"))
				if want != (err == nil) || err != nil && !errors.Is(err, signer.ErrQuorum) {
					t.Errorf("policy\n%s\nCheck with %s: %v, want quorum met = %v", b.String(), setString(set), err, want)
				}
			}
		}
	}
}

// Witnesses are told apart by key, not key name: two policy witnesses whose
// keys share a key name each need their own cosignature.
func TestPolicyCheckWitnessesSharingAKeyName(t *testing.T) {
	k := newPolicyKeys(t)
	clock := fixedClock(time.Unix(1700000000, 0))
	a := newWitnessKey(t, "shared.witness.example", 0x70, clock)
	b := newWitnessKey(t, "shared.witness.example", 0x71, clock)
	if a.c.KeyHash() == b.c.KeyHash() {
		t.Fatal("key IDs collide; pick other seeds")
	}
	p := mustParsePolicy(t, "log "+k.log.vkey+"\nwitness A "+a.vkey+"\nwitness B "+b.vkey+"\ngroup g all A B\nquorum g\n")
	c := checkpointFor(k.log.s.Name())
	for _, tc := range []struct {
		signers []signer.NoteSigner
		met     bool
	}{
		{[]signer.NoteSigner{k.log.s, a.c}, false},
		{[]signer.NoteSigner{k.log.s, b.c}, false},
		{[]signer.NoteSigner{k.log.s, a.c, b.c}, true},
		{[]signer.NoteSigner{k.log.s, b.c, a.c}, true},
	} {
		msg, err := signer.SignNote(c.Text(), tc.signers...)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.Check(msg)
		if tc.met && err != nil || !tc.met && !errors.Is(err, signer.ErrQuorum) {
			t.Errorf("Check with %d cosignatures: %v, want quorum met = %v", len(tc.signers)-1, err, tc.met)
		}
	}
}

// TestParsePolicyRejectsDuplicateKeyWithPlus: a witness key whose base64
// holds a '+' is still found twice under two names (the vkey's fields are
// cut at its first two '+', never its last).
func TestParsePolicyRejectsDuplicateKeyWithPlus(t *testing.T) {
	k := newPolicyKeys(t)
	for seed := byte(0); ; seed++ {
		pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
		a := keyVariant{name: "a.witness.example", typ: 0x04, key: pub}.String()
		b64 := strings.SplitN(a, "+", 3)[2] // names and IDs hold no '+'
		if !strings.Contains(b64, "+") {
			continue
		}
		b := keyVariant{name: "b.witness.example", typ: 0x04, key: pub}.String()
		text := "log " + k.log.vkey + "\nwitness A " + a + "\nwitness B " + b + "\ngroup g 2 A B\nquorum g\n"
		if _, err := signer.ParsePolicy([]byte(text)); err == nil {
			t.Fatalf("one witness key (base64 %s) under two names made a 2-of-2 quorum:\n%s", b64, text)
		}
		return
	}
}
