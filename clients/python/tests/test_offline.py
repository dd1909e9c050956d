"""Offline checks against hand-made good and bad inputs: signed notes,
checkpoints, cosignatures, policies and tlog-proof files."""

import base64
import struct
import unittest

import _support  # noqa: F401
from _reference import mth, path

from tlog_ai import (
    MalformedError,
    ProofError,
    QuorumError,
    SignatureError,
    parse_checkpoint,
    parse_policy,
    parse_tlog_proof,
    verify_checkpoint,
    verify_cosignature,
    verify_tlog_proof,
)
from tlog_ai.merkle import leaf_hash
from tlog_ai.note import (
    Cosigner,
    CosignatureVerifier,
    NoteSigner,
    Verifier,
    cosigned_message,
    key_hash,
    open_note,
    parse_note,
)
from tlog_ai.tlogproof import TlogProof

ORIGIN = "log.example/test"
LEAVES = [b"entry %d" % i for i in range(13)]


def checkpoint_text(n: int, leaves=LEAVES, origin=ORIGIN) -> str:
    return f"{origin}\n{n}\n{base64.b64encode(mth(leaves[:n])).decode()}\n"


def flip_b64_line(s: str) -> str:
    b = bytearray(base64.b64decode(s))
    b[-1] ^= 1
    return base64.b64encode(bytes(b)).decode()


class Keys:
    log = NoteSigner(ORIGIN)
    other_log = NoteSigner(ORIGIN)  # same name, another key
    w1 = Cosigner("w1.example", now=1_700_000_000)
    w2 = Cosigner("w2.example", now=1_700_000_001)
    w3 = Cosigner("w3.example", now=1_700_000_002)


class NoteTest(unittest.TestCase):
    def test_key_strings(self):
        v = Verifier.from_key(Keys.log.verifier_key())
        self.assertEqual(str(v), Keys.log.verifier_key())
        self.assertEqual(v.key_hash, key_hash(ORIGIN, b"\x01" + Keys.log.public_key))
        # A key from the README (made by tlog keygen / x/mod's note.GenerateKey).
        readme = "log.example.com/ai+f14ec002+ATdI7Htkvm4OpqbadW/B1hOAUImLhWdFgNdCEulfHw1y"
        self.assertEqual(str(Verifier.from_key(readme)), readme)
        w = CosignatureVerifier.from_key(Keys.w1.verifier_key())
        self.assertEqual(w.key_hash, key_hash("w1.example", b"\x04" + Keys.w1.public_key))
        bad = [
            "noplus",
            "name+f14ec002",
            "+f14ec002+ATdI7Htkvm4OpqbadW/B1hOAUImLhWdFgNdCEulfHw1y",
            "log.example.com/ai+f14ec003+ATdI7Htkvm4OpqbadW/B1hOAUImLhWdFgNdCEulfHw1y",  # wrong key ID
            "log.example.com/ai+f14ec0+ATdI7Htkvm4OpqbadW/B1hOAUImLhWdFgNdCEulfHw1y",
            "log.example.com/ai+f14ec002+ATdI7Htkvm4OpqbadW/B1hOAUImLhWdFgNdCEulf",  # short key
            "log example+f14ec002+ATdI7Htkvm4OpqbadW/B1hOAUImLhWdFgNdCEulfHw1y",
            Keys.w1.verifier_key(),  # a witness key is not a log key
        ]
        for k in bad:
            with self.subTest(k), self.assertRaises(MalformedError):
                Verifier.from_key(k)
        with self.assertRaises(MalformedError):
            CosignatureVerifier.from_key(Keys.log.verifier_key())

    def test_open_note(self):
        text = checkpoint_text(3)
        note = Keys.log.sign_note(text)
        v = Verifier.from_key(Keys.log.verifier_key())
        n = open_note(note, [v])
        self.assertEqual(n.text, text)
        self.assertEqual(len(n.sigs), 1)
        # Unknown keys' signatures are kept unverified, not refused.
        note2 = note + Keys.w1.signature_line(text).encode()
        n2 = open_note(note2, [v])
        self.assertEqual([s.name for s in n2.unverified_sigs], ["w1.example"])
        # Wrong key: same name, other key → no known signature.
        with self.assertRaises(SignatureError):
            open_note(note, [Verifier.from_key(Keys.other_log.verifier_key())])
        # A known key whose signature fails rejects the note.
        forged = (text + "\n" + Keys.other_log.signature_line(text)).encode()
        forged = forged.replace(
            forged.split(b" ")[-1],
            base64.b64encode(struct.pack(">I", v.key_hash) + base64.b64decode(forged.split(b" ")[-1])[4:]) + b"\n",
        )
        with self.assertRaises(SignatureError):
            open_note(forged, [v])
        # Changed text.
        with self.assertRaises(SignatureError):
            open_note(note.replace(b"\n3\n", b"\n4\n"), [v])

    def test_parse_note_strictness(self):
        text = checkpoint_text(2)
        note = Keys.log.sign_note(text).decode()
        sig_line = note[len(text) + 1:]
        b64 = sig_line.split(" ")[-1].strip()
        # Non-canonical base64 (unused bits set in the last character).
        raw = base64.b64decode(b64)
        alt = base64.b64encode(raw).decode()
        last = alt.rstrip("=")[-1]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        noncanon = alt.rstrip("=")[:-1] + alphabet[alphabet.index(last) ^ 1] + "=" * (len(alt) - len(alt.rstrip("=")))  # an unused bit
        self.assertEqual(base64.b64decode(noncanon), raw)  # Python's decoder would take it
        bad = {
            "no blank line": text + sig_line,
            "no signatures": text + "\n",
            "no final newline": note[:-1],
            "plain dash": text + "\n" + sig_line.replace("\u2014", "-"),
            "non-canonical base64": text + "\n" + sig_line.replace(b64, noncanon),
            "control character": text.replace(ORIGIN, ORIGIN + "\x01") + "\n" + sig_line,
            "short signature": text + "\n\u2014 " + ORIGIN + " AAAA\n",
            "name with space": text + "\n" + sig_line.replace(ORIGIN, "a b"),
            "trailing blank line": note + "\n",
            "too many signatures": text + "\n" + "".join(NoteSigner(f"k{i}").signature_line(text) for i in range(101)),
        }
        for name, n in bad.items():
            with self.subTest(name), self.assertRaises(MalformedError):
                parse_note(n.encode("utf-8"))
        with self.assertRaises(MalformedError):
            parse_note(note.encode()[:-2] + b"\xff\n")  # invalid UTF-8
        # Exact repeats are dropped.
        self.assertEqual(len(parse_note((note + sig_line).encode()).unverified_sigs), 1)


class CheckpointTest(unittest.TestCase):
    def test_parse(self):
        c = parse_checkpoint(checkpoint_text(5))
        self.assertEqual((c.origin, c.size, c.root_hash), (ORIGIN, 5, mth(LEAVES[:5])))
        self.assertEqual(c.text(), checkpoint_text(5))
        c = parse_checkpoint(checkpoint_text(5) + "ext one\n")
        self.assertEqual(c.extensions, ["ext one"])
        root = base64.b64encode(mth(LEAVES[:5])).decode()
        bad = [
            f"{ORIGIN}\n5\n{root}",  # no final newline
            f"{ORIGIN}\n5\n",
            f"\n5\n{root}\n",
            f"{ORIGIN}\n05\n{root}\n",
            f"{ORIGIN}\n+5\n{root}\n",
            f"{ORIGIN}\n18446744073709551616\n{root}\n",
            f"{ORIGIN}\n5\n{root[:-4]}\n",
            f"{ORIGIN}\n5\n{root}\n\n",  # empty extension line
            f"{ORIGIN}\n5\n{base64.b64encode(b'x' * 31).decode()}\n",
        ]
        for t in bad:
            with self.subTest(t), self.assertRaises(MalformedError):
                parse_checkpoint(t)

    def test_verify(self):
        note = Keys.log.sign_note(checkpoint_text(7))
        c = verify_checkpoint(note, Keys.log.verifier_key())
        self.assertEqual(c.size, 7)
        self.assertEqual(c.note, note)
        with self.assertRaises(SignatureError):
            verify_checkpoint(note, Keys.other_log.verifier_key())
        # Signed by the right key, but for another origin.
        other = NoteSigner("other.example/log", Keys.log._priv)
        with self.assertRaises((SignatureError, MalformedError)):
            verify_checkpoint(other.sign_note(checkpoint_text(7, origin="other.example/log")), Keys.log.verifier_key())
        wrong_origin = Keys.log.sign_note(checkpoint_text(7, origin="evil.example"))
        with self.assertRaises(MalformedError):
            verify_checkpoint(wrong_origin, Keys.log.verifier_key())


class CosignatureTest(unittest.TestCase):
    def test_cosignature(self):
        text = checkpoint_text(9)
        note = Keys.log.sign_note(text)
        cosigned = Keys.w1.cosign(note)
        s = verify_cosignature(cosigned, Keys.w1.verifier_key())
        self.assertEqual(s.timestamp(), 1_700_000_000)
        self.assertEqual(len(s.sig), 72)
        # The message: "cosignature/v1\ntime <T>\n" + checkpoint text.
        self.assertEqual(cosigned_message(5, text), b"cosignature/v1\ntime 5\n" + text.encode())
        with self.assertRaises(MalformedError):
            cosigned_message(5, "not a checkpoint\n")
        # No cosignature by this witness.
        with self.assertRaises(SignatureError):
            verify_cosignature(cosigned, Keys.w2.verifier_key())
        # Timestamp changed: the signature covers it.
        line = Keys.w1.signature_line(text)
        raw = base64.b64decode(line.split(" ")[-1])
        bumped = raw[:4] + struct.pack(">Q", 1_700_000_001) + raw[12:]
        bad = note + line.replace(line.split(" ")[-1].strip(), base64.b64encode(bumped).decode()).encode()
        with self.assertRaises(SignatureError):
            verify_cosignature(bad, Keys.w1.verifier_key())
        # Over another checkpoint's text.
        other = Keys.w1.signature_line(checkpoint_text(10))
        with self.assertRaises(SignatureError):
            verify_cosignature(note + other.encode(), Keys.w1.verifier_key())
        # A plain Ed25519 signature (no timestamp) by the witness key.
        plain = NoteSigner("w1.example", Keys.w1._priv)
        sig = plain.sign(text.encode())
        fake = "\u2014 w1.example " + base64.b64encode(struct.pack(">I", Keys.w1.key_hash) + sig).decode() + "\n"
        with self.assertRaises(SignatureError):
            verify_cosignature(note + fake.encode(), Keys.w1.verifier_key())


POLICY = f"""# two of three
log {Keys.log.verifier_key()} http://127.0.0.1:1
witness W1 {Keys.w1.verifier_key()}
witness W2 {Keys.w2.verifier_key()}\thttp://w2
witness W3 {Keys.w3.verifier_key()}
group two 2 W1 W2 W3
quorum two
"""


class PolicyTest(unittest.TestCase):
    def test_parse_errors(self):
        L, W1, W2 = Keys.log.verifier_key(), Keys.w1.verifier_key(), Keys.w2.verifier_key()
        bad = {
            "no quorum": f"log {L}\n",
            "two quorums": f"log {L}\nquorum none\nquorum none\n",
            "undefined member": f"log {L}\ngroup g any W1\nquorum g\n",
            "undefined quorum": f"log {L}\nquorum g\n",
            "member twice": f"witness W1 {W1}\ngroup g any W1 W1\nquorum g\n",
            "threshold too big": f"witness W1 {W1}\ngroup g 2 W1\nquorum g\n",
            "threshold zero": f"witness W1 {W1}\ngroup g 0 W1\nquorum g\n",
            "threshold leading zero": f"witness W1 {W1}\nwitness W2 {W2}\ngroup g 01 W1 W2\nquorum g\n",
            "name defined twice": f"witness W1 {W1}\nwitness W1 {W2}\nquorum W1\n",
            "name none": f"witness none {W1}\nquorum none\n",
            "duplicate key": f"witness W1 {W1}\nwitness W2 {W1}\nquorum W1\n",
            "duplicate key under another name": f"witness W1 {W1}\nwitness W2 {Cosigner('x.example', Keys.w1._priv).verifier_key()}\nquorum W1\n",
            "log key as witness": f"witness W1 {L}\nquorum W1\n",
            "unknown keyword": f"log {L}\nwitnesses W1 {W1}\nquorum none\n",
            "control character": f"log {L}\r\nquorum none\n",
            "log line too long": f"log {L} http://a extra\nquorum none\n",
        }
        for name, text in bad.items():
            with self.subTest(name):
                with self.assertRaises(MalformedError) as cm:
                    parse_policy(text)
                if name.startswith("duplicate key"):
                    self.assertIn("duplicate key", str(cm.exception))

    def test_duplicate_key_with_plus_in_base64(self):
        # base64 has '+': the key string is cut at its second '+', never
        # its last, so the duplicate is found (as in Go's rawKey).
        import os
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        tried = 0
        while True:
            tried += 1
            priv = Ed25519PrivateKey.generate()
            a, b = Cosigner("a.example", priv), Cosigner("b.example", priv)
            if "+" in a.verifier_key().split("+", 2)[2]:
                break
        with self.assertRaises(MalformedError) as cm:
            parse_policy(f"witness A {a.verifier_key()}\nwitness B {b.verifier_key()}\ngroup g 2 A B\nquorum g\n")
        self.assertIn("duplicate key", str(cm.exception))

    def test_quorum(self):
        p = parse_policy(POLICY)
        self.assertTrue(p.witnessed)
        self.assertEqual([w.name for w in p.witnesses], ["W1", "W2", "W3"])
        self.assertEqual(p.witnesses[1].url, "http://w2")
        note = Keys.log.sign_note(checkpoint_text(4))
        one = Keys.w1.cosign(note)
        two = Keys.w3.cosign(one)
        c = verify_checkpoint(two, Keys.log.verifier_key(), p)
        self.assertEqual(c.size, 4)
        self.assertEqual(len(c.signatures), 3)
        c, _ = p.check(two)
        with self.assertRaises(QuorumError):
            verify_checkpoint(one, Keys.log.verifier_key(), p)
        with self.assertRaises(QuorumError):
            verify_checkpoint(note, None, p)
        # A known witness's bad cosignature rejects the checkpoint.
        bad_line = Keys.w2.signature_line(checkpoint_text(5))
        with self.assertRaises(SignatureError):
            verify_checkpoint(two + bad_line.encode(), Keys.log.verifier_key(), p)
        # An unknown witness's cosignature is ignored.
        stranger = Cosigner("w9.example")
        self.assertEqual(verify_checkpoint(stranger.cosign(two), None, p).size, 4)
        with self.assertRaises(QuorumError):
            verify_checkpoint(stranger.cosign(one), None, p)
        # The log must be the policy's.
        with self.assertRaises(SignatureError):
            verify_checkpoint(Keys.w1.cosign(Keys.w3.cosign(Keys.other_log.sign_note(checkpoint_text(4)))), None, p)
        # quorum none: the log's signature alone.
        self.assertEqual(verify_checkpoint(note, None, f"log {Keys.log.verifier_key()}\nquorum none\n").size, 4)

    def test_nested_groups(self):
        text = (f"log {Keys.log.verifier_key()}\nwitness A {Keys.w1.verifier_key()}\nwitness B {Keys.w2.verifier_key()}\n"
                f"witness C {Keys.w3.verifier_key()}\ngroup ab all A B\ngroup top any ab C\nquorum top\n")
        p = parse_policy(text)
        note = Keys.log.sign_note(checkpoint_text(4))
        self.assertEqual(verify_checkpoint(Keys.w3.cosign(note), None, p).size, 4)
        self.assertEqual(verify_checkpoint(Keys.w2.cosign(Keys.w1.cosign(note)), None, p).size, 4)
        with self.assertRaises(QuorumError):
            verify_checkpoint(Keys.w1.cosign(note), None, p)
        self.assertTrue(p.quorum_met({"A", "B"}))
        self.assertFalse(p.quorum_met({"B"}))


def make_proof(index: int, size: int, signer=Keys.log, extra=None, cosigners=()) -> bytes:
    note = signer.sign_note(checkpoint_text(size))
    for c in cosigners:
        note = c.cosign(note)
    return TlogProof(index=index, hashes=path(index, LEAVES[:size]), checkpoint=note, extra=extra).format()


class TlogProofTest(unittest.TestCase):
    def test_verify_good(self):
        key = Keys.log.verifier_key()
        for size in (1, 2, 7, 13):
            for i in range(size):
                vp = verify_tlog_proof(LEAVES[i], make_proof(i, size), key)
                self.assertEqual((vp.index, vp.checkpoint.size), (i, size))
        p = make_proof(3, 9, extra=b"opaque")
        self.assertEqual(parse_tlog_proof(p).extra, b"opaque")
        self.assertEqual(parse_tlog_proof(p).format(), p)
        verify_tlog_proof(LEAVES[3], p, key)

    def test_verify_bad(self):
        key = Keys.log.verifier_key()
        good = make_proof(5, 11)
        verify_tlog_proof(LEAVES[5], good, key)
        lines = good.decode().split("\n")
        flipped = "\n".join(lines[:3] + [flip_b64_line(lines[3])] + lines[4:]).encode()
        truncated = "\n".join(lines[:2] + lines[3:]).encode()  # first proof hash dropped
        wrong_index = good.replace(b"index 5\n", b"index 4\n")
        cases = {
            "wrong key": (LEAVES[5], good, Keys.other_log.verifier_key(), SignatureError),
            "wrong entry": (LEAVES[4], good, key, ProofError),
            "flipped hash bit": (LEAVES[5], flipped, key, ProofError),
            "wrong index": (LEAVES[5], wrong_index, key, ProofError),
            "truncated proof": (LEAVES[5], truncated, key, ProofError),
            "index beyond the tree": (LEAVES[5], make_proof(5, 11).replace(b"index 5\n", b"index 11\n"), key, ProofError),
            "changed checkpoint": (LEAVES[5], good.replace(b"\n11\n", b"\n12\n"), key, SignatureError),
            "cut file": (LEAVES[5], good[:-10], key, MalformedError),
        }
        for name, (entry, proof, k, exc) in cases.items():
            with self.subTest(name), self.assertRaises(exc):
                verify_tlog_proof(entry, proof, k)

    def test_policy(self):
        p = parse_policy(POLICY)
        ok = make_proof(2, 6, cosigners=(Keys.w1, Keys.w2))
        vp = verify_tlog_proof(LEAVES[2], ok, Keys.log.verifier_key(), p)
        self.assertEqual(len(vp.checkpoint.signatures), 3)
        verify_tlog_proof(LEAVES[2], ok, None, p)
        with self.assertRaises(QuorumError):  # quorum not met
            verify_tlog_proof(LEAVES[2], make_proof(2, 6, cosigners=(Keys.w1,)), None, p)
        # Bad cosignature: w2's line over another checkpoint.
        bad = make_proof(2, 6, cosigners=(Keys.w1,)) + Keys.w2.signature_line(checkpoint_text(7)).encode()
        with self.assertRaises(SignatureError):
            verify_tlog_proof(LEAVES[2], bad, None, p)

    def test_parse_strictness(self):
        good = make_proof(5, 11).decode()
        hdr, idx = "c2sp.org/tlog-proof@v1\n", "index 5\n"
        rest = good[len(hdr) + len(idx):]
        hs, cp = rest.split("\n\n", 1)
        hs += "\n"
        parse_tlog_proof(good.encode())
        bad = {
            "header with trailing space": "c2sp.org/tlog-proof@v1 \n" + idx + hs + "\n" + cp,
            "other version": "c2sp.org/tlog-proof@v2\n" + idx + hs + "\n" + cp,
            "no index": hdr + hs + "\n" + cp,
            "index leading zero": hdr + "index 05\n" + hs + "\n" + cp,
            "index trailing space": hdr + "index 5 \n" + hs + "\n" + cp,
            "negative index": hdr + "index -5\n" + hs + "\n" + cp,
            "extra after index": hdr + idx + "extra AAAA\n" + hs + "\n" + cp,
            "non-canonical extra": hdr + "extra AAB=\n" + idx + hs + "\n" + cp,
            "short hash": hdr + idx + base64.b64encode(b"x" * 31).decode() + "\n" + hs + "\n" + cp,
            "hash with trailing space": hdr + idx + hs.split("\n")[0] + " \n" + hs + "\n" + cp,
            "65 hashes": hdr + idx + (base64.b64encode(b"x" * 32).decode() + "\n") * 65 + "\n" + cp,
            "no empty line": hdr + idx + hs,
            "checkpoint not a checkpoint": hdr + idx + hs + "\n" + Keys.log.sign_note("hello\n").decode(),
            "checkpoint without signature": hdr + idx + hs + "\n" + checkpoint_text(11),
            "checkpoint with trailing blank line (jq -r)": good + "\n",
            "checkpoint with trailing garbage": good + "garbage",
            "CRLF": good.replace("\n", "\r\n"),
        }
        for name, text in bad.items():
            with self.subTest(name), self.assertRaises(MalformedError):
                parse_tlog_proof(text.encode())
        # Zero proof hashes is fine (a tree of one entry), and so is an empty extra.
        one = make_proof(0, 1)
        self.assertEqual(parse_tlog_proof(one).hashes, [])
        self.assertEqual(parse_tlog_proof(hdr + "extra \n" + one.decode()[len(hdr):]).extra, b"")

    def test_leaf_hash_matters(self):
        # The proof is about SHA-256(0x00 || entry): the entry with a newline is another entry.
        with self.assertRaises(ProofError):
            verify_tlog_proof(LEAVES[1] + b"\n", make_proof(1, 3), Keys.log.verifier_key())
        self.assertNotEqual(leaf_hash(LEAVES[1]), leaf_hash(LEAVES[1] + b"\n"))


if __name__ == "__main__":
    unittest.main()
