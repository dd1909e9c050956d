package attest

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Subject names are what the publisher policy decides on, and what people
// and registries read; a name that looks like, or that a registry or a
// shell or a file system resolves to, a name under a rule it is not
// covered by would let anyone publish "acme's" model. So:
//
//   - Coverage ignores case: a rule's prefix covers every name that starts
//     with it under Unicode simple case folding (the folding of Go's
//     strings.EqualFold and encoding/json), or once lower-cased or
//     upper-cased, so the rule for "acme/" covers "ACME/fraud-v3",
//     "Acme/x", and the rule for "kcme/" the name with a Kelvin sign
//     (U+212A) for the "k"; "acme/prıvate" (dotless i) falls under
//     "acme/private/". Registries such as the Hugging Face Hub resolve
//     names case-insensitively.
//   - Admission refuses (ErrInvalid) the forms that read as another name
//     without being it, whatever the policy: see checkSubjectName.
//
// Rule prefixes are printable ASCII, checked the same way, so no rule
// depends on how a name's non-ASCII letters would be normalized.
// Visually confusable letters of other scripts (Cyrillic "а" for Latin
// "a") are not mapped: they are different names to every registry, and a
// log cannot know every script's look-alikes.

// checkSubjectName returns why a subject name is refused at admission, or
// nil. The empty name is allowed (a subject may be named by its digest
// alone); no rule covers it. Refused:
//
//   - names longer than maxSubjectNameLength bytes;
//   - leading or trailing whitespace (" acme/x" is trimmed by many
//     readers into a covered name);
//   - control characters (C0, C1, DEL), and every rune that is not
//     graphic: Unicode whitespace other than the ASCII space (no-break,
//     ideographic, line and paragraph separators), format characters
//     (zero-width space and joiners, bidirectional overrides, the byte
//     order mark, soft hyphen), private-use and unassigned code points;
//   - invisible graphic runes: variation selectors, the combining
//     grapheme joiner, Hangul fillers, the Braille blank;
//   - a combining mark on an ASCII character ("acme" with U+0301 after the
//     "e" displays as "acmé"; accented letters must be precomposed, NFC);
//   - U+FFFD, the trace of a lossy decoding;
//   - backslashes, and look-alikes of '/' and '\' (fraction, division and
//     big solidus, set minus), since "acme\x" is "acme/x" to a Windows
//     path and "acme∕x" reads as it;
//   - the halfwidth and fullwidth forms ("ａｃｍｅ/" is "acme/" under NFKC),
//     mathematical alphanumeric symbols and enclosed alphanumerics;
//   - empty, "." and ".." path segments: "acme//x", "./acme/x",
//     "acme/./private/x", "other/../acme/x", "/acme/x", "acme/", which a
//     path cleaner would move under another rule (the "//" of a leading
//     URL scheme, "https://…", is allowed);
//   - percent escapes of ASCII letters, digits, "-._~", '/', '\', space
//     and controls ("acme%2fx", "%61cme/x"), which a URL decoder turns
//     into a covered name; other escapes (%40 for '@' in package URLs,
//     %C3%A9) are kept as written.
func checkSubjectName(name string) error {
	return checkName(name, false)
}

// checkName checks a subject name, or (prefix) a policy rule's prefix,
// which must be ASCII and may end in '/'.
func checkName(name string, prefix bool) error {
	if name == "" {
		return nil
	}
	if len(name) > maxSubjectNameLength {
		return fmt.Errorf("is longer than %d bytes", maxSubjectNameLength)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("is not valid UTF-8")
	}
	prevASCII := false
	for i, r := range name {
		switch {
		case r < 0x20 || (r >= 0x7f && r <= 0x9f):
			return fmt.Errorf("contains control characters")
		case prefix && r >= utf8.RuneSelf:
			return fmt.Errorf("contains %U: rule prefixes are printable ASCII", r)
		case r == '\\':
			return fmt.Errorf("contains a backslash")
		case r == utf8.RuneError:
			return fmt.Errorf("contains U+FFFD, the replacement character")
		case !unicode.IsPrint(r):
			return fmt.Errorf("contains %U, which is not a visible character", r)
		case invisibleOrConfusable(r):
			return fmt.Errorf("contains %U, which is invisible or reads as another character", r)
		case prevASCII && unicode.Is(unicode.M, r):
			return fmt.Errorf("contains the combining mark %U on an ASCII character (write accented letters precomposed, NFC)", r)
		case r == '%' && percentHides(name[i:]):
			return fmt.Errorf("percent-encodes %q, which must be written as is", name[i:i+3])
		}
		prevASCII = r < utf8.RuneSelf
	}
	if name[0] == ' ' || name[len(name)-1] == ' ' { // other spaces are refused above
		return fmt.Errorf("starts or ends with whitespace")
	}
	rest := name
	if n := schemeLength(name); n > 0 {
		rest = name[n:]
	}
	segs := strings.Split(rest, "/")
	if prefix && len(segs) > 1 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1] // "acme/"
	}
	for _, s := range segs {
		switch s {
		case "":
			return fmt.Errorf("has an empty path segment (a leading, trailing or doubled '/')")
		case ".", "..":
			return fmt.Errorf("has a %q path segment", s)
		}
	}
	return nil
}

// schemeLength is the length of a leading "scheme://" (RFC 3986 scheme),
// or 0.
func schemeLength(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			if strings.HasPrefix(s[i:], "://") {
				return i + 3
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}

// percentHides reports whether s starts with a percent escape of a byte
// that needs no escaping, or of a separator or control.
func percentHides(s string) bool {
	if len(s) < 3 {
		return false
	}
	v, ok := hex4At([]byte("00"+s[1:3]), 0)
	if !ok {
		return false
	}
	c := byte(v)
	switch {
	case c <= 0x20 || c == 0x7f:
		return true
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '-' || c == '.' || c == '_' || c == '~' || c == '/' || c == '\\':
		return true
	}
	return false
}

// invisibleOrConfusable lists graphic runes refused in names: invisible
// ones, look-alikes of the separators, and the compatibility forms of
// ASCII letters and digits.
func invisibleOrConfusable(r rune) bool {
	switch {
	case r == 0x034f, // combining grapheme joiner
		r == 0x115f, r == 0x1160, r == 0x3164, r == 0xffa0, // Hangul fillers
		r == 0x2800,                  // Braille pattern blank
		0xfe00 <= r && r <= 0xfe0f,   // variation selectors
		0xe0100 <= r && r <= 0xe01ef, // variation selectors supplement
		0x180b <= r && r <= 0x180f:   // Mongolian free variation selectors
		return true
	case r == 0x2044, r == 0x2215, r == 0x29f8, r == 0x2571, r == 0x27cb, r == 0x1735, // slash look-alikes
		r == 0x2216, r == 0x29f5, r == 0x29f9, r == 0x2572, r == 0x27cd, r == 0xfe68: // backslash look-alikes
		return true
	case 0xff00 <= r && r <= 0xffef, // halfwidth and fullwidth forms
		0x1d400 <= r && r <= 0x1d7ff, // mathematical alphanumeric symbols
		0x2460 <= r && r <= 0x24ff,   // enclosed alphanumerics
		0x1f100 <= r && r <= 0x1f1ff: // enclosed alphanumeric supplement
		return true
	}
	return false
}

// covers reports whether a rule's prefix covers name: name starts with
// prefix under Unicode simple case folding, or once lower-cased, or once
// upper-cased (which also map the Turkish dotted and dotless i, outside
// the folding, to "i" and "I").
func covers(prefix, name string) bool {
	return strings.HasPrefix(foldKey(name), foldKey(prefix)) ||
		strings.HasPrefix(strings.ToLower(name), strings.ToLower(prefix)) ||
		strings.HasPrefix(strings.ToUpper(name), strings.ToUpper(prefix))
}
