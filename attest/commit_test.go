package attest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// commitRef is the commitment computed from its definition, one
// concatenated buffer hashed at once.
func commitRef(salt, content []byte) string {
	msg := append([]byte("tlog/commitment/v1"), 0x00)
	msg = append(msg, salt...)
	msg = append(msg, content...)
	sum := sha256.Sum256(msg)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestCommit(t *testing.T) {
	salt := bytes.Repeat([]byte{0xa5}, SaltSize)
	for _, content := range [][]byte{nil, {}, []byte("hello"), []byte("\x00"), bytes.Repeat([]byte("x"), 1<<16)} {
		got, err := Commit(salt, content)
		if err != nil {
			t.Fatal(err)
		}
		if want := commitRef(salt, content); got != want {
			t.Errorf("Commit(%q…) = %s, want %s", truncate(string(content)), got, want)
		}
		if !isCommitment(got) {
			t.Errorf("Commit gives %q, not sha256:<64 hex>", got)
		}
		if err := Open(got, salt, content); err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	// A known answer computed outside Go, pinning the domain separator:
	// { printf 'tlog/commitment/v1\x00'; head -c 32 /dev/zero; printf abc; } | sha256sum
	got, err := Commit(make([]byte, SaltSize), []byte("abc"))
	if want := "sha256:276f07b244ff3b714c7828eaa83e7ec4d93a993bed634f615b42f77158a7a9a5"; err != nil || got != want {
		t.Errorf("Commit(zero salt, abc) = %s, %v; want %s", got, err, want)
	}
}

func TestCommitSaltHides(t *testing.T) {
	content := []byte("the applicant's income: 52,000")
	a, b := NewSalt(), NewSalt()
	ca, _ := Commit(a, content)
	cb, _ := Commit(b, content)
	if ca == cb {
		t.Errorf("two salts give the same commitment")
	}
	// Salt and content can't trade bytes: moving the salt's last byte
	// into the content is another commitment.
	salt := bytes.Repeat([]byte{1}, SaltSize)
	c1, _ := Commit(salt, []byte("x"))
	c2, _ := Commit(append(bytes.Repeat([]byte{1}, SaltSize-1), 'y'), append([]byte{1}, 'x'))
	if c1 == c2 {
		t.Errorf("salt and content traded bytes")
	}
}

func TestCommitBadSalt(t *testing.T) {
	for _, n := range []int{0, 1, SaltSize - 1, SaltSize + 1, 64} {
		c, err := Commit(make([]byte, n), []byte("x"))
		if c != "" {
			t.Errorf("salt of %d bytes: commitment %q returned with the error", n, c)
		}
		wantErr(t, err, ErrInvalid, "salt", "32")
	}
}

func TestOpen(t *testing.T) {
	salt := NewSalt()
	content := []byte("prompt: approve the loan?")
	c, err := Commit(salt, content)
	if err != nil {
		t.Fatal(err)
	}
	if err := Open(c, salt, content); err != nil {
		t.Fatalf("Open the right content and salt: %v", err)
	}
	otherSalt := bytes.Clone(salt)
	otherSalt[0] ^= 1
	for _, tc := range []struct {
		name          string
		commitment    string
		salt, content []byte
		msg           []string
	}{
		{"wrong salt", c, otherSalt, content, []string{"do not open"}},
		{"wrong content", c, salt, []byte("prompt: approve the loan!"), []string{"do not open"}},
		{"content with extra byte", c, salt, append(bytes.Clone(content), 0), []string{"do not open"}},
		{"empty content", c, salt, nil, []string{"do not open"}},
		{"salt of 31 bytes", c, salt[:31], content, []string{"salt is 31 bytes"}},
		{"salt of 33 bytes", c, append(bytes.Clone(salt), 0), content, []string{"salt is 33 bytes"}},
		{"salt and content shifted", c, append([]byte{0}, salt[:31]...), append([]byte{salt[31]}, content...), []string{"do not open"}},
		{"uppercase commitment", strings.ToUpper(c), salt, content, []string{"not a commitment"}},
		{"uppercase hex", "sha256:" + strings.ToUpper(c[7:]), salt, content, []string{"not a commitment"}},
		{"no prefix", c[7:], salt, content, []string{"not a commitment"}},
		{"sha512 prefix", "sha512:" + c[7:], salt, content, []string{"not a commitment"}},
		{"truncated", c[:len(c)-1], salt, content, []string{"not a commitment"}},
		{"extended", c + "0", salt, content, []string{"not a commitment"}},
		{"empty", "", salt, content, []string{"not a commitment"}},
		{"long garbage", strings.Repeat("z", 500), salt, content, []string{"not a commitment", "…"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, Open(tc.commitment, tc.salt, tc.content), ErrInvalid, tc.msg...)
		})
	}
}

func TestNewSalt(t *testing.T) {
	seen := map[string]bool{}
	for range 64 {
		s := NewSalt()
		if len(s) != SaltSize || SaltSize != 32 {
			t.Fatalf("salt of %d bytes", len(s))
		}
		if seen[string(s)] {
			t.Fatalf("NewSalt repeated %x", s)
		}
		seen[string(s)] = true
		if bytes.Equal(s, make([]byte, SaltSize)) {
			t.Fatalf("all-zero salt")
		}
	}
	// 2048 uniformly random bytes show about 256·(1-e^-8) ≈ 255.9
	// distinct values; fewer than 200 means a stuck or low-entropy source.
	var distinct [256]bool
	n := 0
	for s := range seen {
		for _, b := range []byte(s) {
			if !distinct[b] {
				distinct[b] = true
				n++
			}
		}
	}
	if n < 200 {
		t.Errorf("only %d distinct byte values in %d random bytes", n, 64*SaltSize)
	}
}
