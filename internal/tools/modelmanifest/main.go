// Command modelmanifest writes the in-toto statement the model_signing
// tool signs (predicate https://model_signing/signature/v1.0, files
// serialization, sha256) for a local model — a file or a directory —
// hashed as model-signing hashes it, for demonstrations and tests without
// the Python tool:
//
//	go run ./internal/tools/modelmanifest -name acme/llm ./acme-llm > statement.json
package main

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/tlogai/tlog/attest"
)

func main() {
	name := flag.String("name", "", "the statement's subject name (default: the path)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: modelmanifest [-name NAME] PATH")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	path := flag.Arg(0)
	if *name == "" {
		*name = path
	}
	rs, err := attest.HashModel(path, attest.ModelHashOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "modelmanifest:", err)
		os.Exit(1)
	}
	type resource struct {
		Name      string `json:"name"`
		Algorithm string `json:"algorithm"`
		Digest    string `json:"digest"`
	}
	resources := make([]resource, len(rs))
	for i, r := range rs {
		resources[i] = resource{r.Name, r.Algorithm, hex.EncodeToString(r.Digest)}
	}
	st := map[string]any{
		"_type":         attest.StatementV1,
		"subject":       []any{map[string]any{"name": *name, "digest": map[string]string{"sha256": strings.TrimPrefix(attest.ModelSubjectDigest(rs), "sha256:")}}},
		"predicateType": attest.ModelSigningV1,
		"predicate": map[string]any{
			"serialization": map[string]any{"method": "files", "hash_type": "sha256", "allow_symlinks": false, "ignore_paths": []string{}},
			"resources":     resources,
		},
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(st); err != nil {
		fmt.Fprintln(os.Stderr, "modelmanifest:", err)
		os.Exit(1)
	}
}
