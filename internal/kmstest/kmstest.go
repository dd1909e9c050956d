// Package kmstest builds the test KMS plugin (internal/tools/kmsplugin)
// and writes its key files, for tests of KMS-backed signers through
// sigstore's plugin mechanism.
package kmstest

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// pluginPackage is the import path of the plugin's source.
const pluginPackage = "github.com/tlogai/tlog/internal/tools/kmsplugin"

// BuildPlugin builds the test plugin as DIR/sigstore-kms-<name> in a new
// temporary directory of the test and returns DIR; put it on PATH to
// serve the references <name>://<key file>.
func BuildPlugin(t testing.TB, name string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command(goTool(), "build", "-o", filepath.Join(dir, "sigstore-kms-"+name), pluginPackage).CombinedOutput()
	if err != nil {
		t.Fatalf("couldn't build the test KMS plugin: %v\n%s", err, out)
	}
	return dir
}

// PrependPath puts dir first on the test process's PATH (and so on that
// of its children) for the rest of the test. Like t.Setenv, it cannot be
// used in parallel tests.
func PrependPath(t testing.TB, dir string) {
	t.Helper()
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// WriteKey writes priv as a PEM PKCS #8 file (mode 0600) at path.
func WriteKey(t testing.TB, path string, priv crypto.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// SetFault makes the plugin fail for the key file in the way fault names
// (badsig, error, exit, hang: see internal/tools/kmsplugin), from its next
// run on; "" makes it work again.
func SetFault(t testing.TB, keyFile, fault string) {
	t.Helper()
	var err error
	if fault == "" {
		err = os.Remove(keyFile + ".fault")
		if os.IsNotExist(err) {
			err = nil
		}
	} else {
		err = os.WriteFile(keyFile+".fault", []byte(fault+"\n"), 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// goTool returns the go command of the toolchain running the tests.
func goTool() string {
	name := "go"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if root := runtime.GOROOT(); root != "" && !strings.Contains(root, string(os.PathListSeparator)) {
		p := filepath.Join(root, "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}
