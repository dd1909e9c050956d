"""Keyless releases against a real log with a trusted root: a bundle from
sigstore-go's in-memory test Sigstore (internal/tools/testsigstore) is
admitted with its verified identity, found with search(identity=), and a
bundle from another Sigstore is refused."""

import hashlib
import json
import os
import subprocess
import unittest

from _support import Server, TempDir, keygen, testsigstore_bin

from tlog_ai import APIError, Client

IDENTITY = "release-bot@acme.example"
ISSUER = "https://accounts.acme.example"


def statement(path: str, name: str) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    with open(path, "w") as f:
        json.dump({"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": name, "digest": {"sha256": digest}}],
                   "predicateType": "https://slsa.dev/provenance/v1",
                   "predicate": {"buildDefinition": {"buildType": "https://example.com/train@v1"}, "runDetails": {}}}, f)


def sigstore(out: str, stmt: str) -> str:
    subprocess.run([testsigstore_bin(), "-out", out, "-identity", IDENTITY, "-issuer", ISSUER, "-statement", stmt],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(out, "model.sigstore.json")


class KeylessTest(unittest.TestCase):
    def test_keyless_release(self):
        with TempDir() as d:
            stmt = os.path.join(d, "statement.json")
            statement(stmt, "acme/keyless-model")
            bundle = sigstore(os.path.join(d, "sigstore"), stmt)
            other = sigstore(os.path.join(d, "other-sigstore"), stmt)  # another CA, another Rekor
            key_file, vkey = keygen(d, "keyless.example/log")
            log = Server(os.path.join(d, "data"), key_file,
                         args=["--trusted-root", os.path.join(d, "sigstore", "trusted_root.json")]).start()
            try:
                c = Client(log.url, vkey)
                with open(bundle, "rb") as f:
                    r = c.attest(bundle=f.read())
                self.assertTrue(r.proven)
                entry = json.loads(r.entry or b"")
                self.assertEqual(entry, json.loads(c.entry(r.index).entry))
                self.assertEqual((entry["identity"], entry["issuer"]), (IDENTITY, ISSUER))
                self.assertIn(entry["time_source"], ("rekor", "tsa"))
                self.assertEqual(list(c.search(identity=IDENTITY)), [r.index])
                self.assertEqual(list(c.search(identity="someone-else@acme.example")), [])
                size = c.latest().size
                with open(other, "rb") as f, self.assertRaises(APIError) as cm:
                    c.attest(bundle=f.read())
                self.assertEqual(cm.exception.status, 400)
                self.assertIn("certificate", cm.exception.reason)
                self.assertEqual(c.latest().size, size)
            finally:
                log.stop()


if __name__ == "__main__":
    unittest.main()
