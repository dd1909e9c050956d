package attest

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// checkJSONText refuses JSON text that a decoder would read lossily:
// bytes that are not UTF-8, and \u escapes of a lone (unpaired) UTF-16
// surrogate. encoding/json, like most decoders, replaces both with U+FFFD
// without an error, so two different signed payloads (or a payload and
// the entry the log makes of it) would read as the same text, and a name
// would be stored as something its signer never wrote. A high surrogate
// escape must be followed directly by a low surrogate escape; a low one
// may not stand alone. It reads b as JSON only as far as strings go, so
// it is meant to run beside a full parser (checkJSON).
func checkJSONText(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("not valid UTF-8")
	}
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 < len(b) && b[i+1] == 'u' {
				r, ok := hex4At(b, i+2)
				if !ok {
					// Malformed: the parser beside this one refuses it.
					i++
					continue
				}
				if surrogateKind(r) != 0 {
					n, err := surrogatePair(b, i, r)
					if err != nil {
						return err
					}
					i += n - 1
					continue
				}
				i += 5
				continue
			}
			i++ // the escaped byte
		}
	}
	return nil
}

// surrogateKind is 1 for a high (leading) surrogate, 2 for a low
// (trailing) one, 0 for any other rune.
func surrogateKind(r rune) int {
	switch {
	case 0xd800 <= r && r < 0xdc00:
		return 1
	case 0xdc00 <= r && r < 0xe000:
		return 2
	}
	return 0
}

// surrogatePair checks the escape \uXXXX of surrogate r at b[i:] and the
// one that must follow it, returning the 12 bytes of the pair, or an
// error naming the lone surrogate.
func surrogatePair(b []byte, i int, r rune) (int, error) {
	if surrogateKind(r) == 1 && i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
		if r2, ok := hex4At(b, i+8); ok && surrogateKind(r2) == 2 && utf16.DecodeRune(r, r2) != utf8.RuneError {
			return 12, nil
		}
	}
	return 0, loneSurrogateError(r)
}

func loneSurrogateError(r rune) error {
	return fmt.Errorf(`lone UTF-16 surrogate \u%04x in a string (not a character; a surrogate escape must be a high-low pair such as \ud83d\ude00)`, r)
}

// hex4At decodes the four hex digits at b[i:].
func hex4At(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var v rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	return v, true
}
