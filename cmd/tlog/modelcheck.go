package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/tlogai/tlog/attest"
)

// checkModel recomputes the digests of a local model (a file or a
// directory) as model-signing does and checks that they are exactly the
// files the release's model-signing manifest names. It prints the model's
// subject digest from the release and from the files either way.
// attestationFile, when it lies inside the model (model_signing writes
// model.sig there, and 1.0 manifests do not record it as ignored), is left
// out.
func checkModel(w io.Writer, rel *attest.Release, modelPath, attestationFile string) error {
	m, err := attest.ParseModelSigning(rel.Statement)
	if err != nil {
		return fmt.Errorf("the release's model-signing manifest: %w", err)
	}
	if m == nil {
		return fmt.Errorf("--model: this release is not a model-signing statement (predicate %s): it names no model files", attest.ModelSigningV1)
	}
	opts := m.HashOptions()
	if a, err := filepath.Abs(attestationFile); err == nil {
		opts.IgnorePaths = append(opts.IgnorePaths, a)
	}
	local, err := attest.HashModel(modelPath, opts)
	if err != nil {
		return fmt.Errorf("--model %s: %w", modelPath, err)
	}
	fmt.Fprintf(w, "model subject digest: %s in the release, %s from %s\n", m.SubjectDigest, attest.ModelSubjectDigest(local), modelPath)
	if err := attest.CompareModel(m.Resources, local); err != nil {
		return fmt.Errorf("model %s: %w", modelPath, err)
	}
	fmt.Fprintf(w, "model files: all %d match the release\n", len(local))
	return nil
}
