package witness

import (
	"bytes"
	"errors"
	"testing"
)

// Whatever ParseRequest accepts formats back to the same bytes, and what it
// rejects is ErrMalformedRequest.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		"old 0\n\nexample.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— example.com/log AAAAAA==\n",
		"old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\nexample.com/log\n8\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/log Az3g\n",
		"old 05\n\n",
		"old 1\nnot base64\n\n",
		"old 1\r\n\n",
		"",
		"old 18446744073709551616\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedRequest) {
				t.Fatalf("error %v is not ErrMalformedRequest", err)
			}
			return
		}
		if len(r.Proof) > MaxProofLines {
			t.Fatalf("accepted %d proof lines", len(r.Proof))
		}
		if got := r.Format(); !bytes.Equal(got, body) {
			t.Fatalf("round trip:\n%q\n%q", body, got)
		}
	})
}
