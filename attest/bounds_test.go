package attest

import (
	"strings"
	"testing"
	"time"
)

// TestJSONStructureBound: a document with more separators than
// maxJSONStructure is refused before it is tokenized, quickly; separators
// inside strings (escaped quotes too) do not count.
func TestJSONStructureBound(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range maxJSONStructure {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(`":0`)
	}
	b.WriteString("}")
	start := time.Now()
	err := checkJSON([]byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "at most 250000") {
		t.Fatalf("checkJSON of %d keys: %v", maxJSONStructure, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refusing took %v: the bound must come before the tokenizer", d)
	}
	if n := structuralBytes([]byte(`{"a,b:[{":"\",:{[","c":[1,2]}`)); n != 6 {
		t.Errorf("structuralBytes counted %d, want 6 ({ : , : [ ,)", n)
	}
	if err := checkJSON([]byte(`{"s":"` + strings.Repeat(",:{[", 100000) + `"}`)); err != nil {
		t.Errorf("separators inside a string counted: %v", err)
	}
}
