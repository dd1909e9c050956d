"""RFC 6962 hashing and the RFC 9162 proof checks, against an independent
reference tree, with good and bad proofs."""

import hashlib
import unittest

import _support  # noqa: F401  (import path)
from _reference import mth, path, proof

from tlog_ai.errors import ProofError
from tlog_ai.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    node_hash,
    root_from_range,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
    verify_subtree_inclusion,
)

LEAVES = [b"entry %d" % i for i in range(70)]


def flip(h: bytes, bit: int = 0) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


class HashTest(unittest.TestCase):
    def test_hashes(self):
        self.assertEqual(EMPTY_ROOT.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        self.assertEqual(leaf_hash(b"x"), hashlib.sha256(b"\x00x").digest())
        a, b = leaf_hash(b"a"), leaf_hash(b"b")
        self.assertEqual(node_hash(a, b), hashlib.sha256(b"\x01" + a + b).digest())
        # The first entry of the README's tour.
        self.assertEqual(leaf_hash(b"model acme/fraud-v3 released").hex(),
                         "963100dd7b6d134d25895b77b018b8e126cc427e37cd688c08a0031b9731c5c5")

    def test_roots_against_reference(self):
        for n in range(0, 40):
            leaves = LEAVES[:n]
            # Compact range: perfect subtrees from the left.
            rng, start = [], 0
            for bit in range(6, -1, -1):
                if n & (1 << bit):
                    rng.append(subtree_hash([leaf_hash(e) for e in leaves[start:start + (1 << bit)]]))
                    start += 1 << bit
            self.assertEqual(root_from_range(rng), mth(leaves), n)
        with self.assertRaises(ValueError):
            subtree_hash([b"\x00" * 32] * 3)


class InclusionTest(unittest.TestCase):
    def test_every_proof_of_small_trees(self):
        for n in range(1, 40):
            root = mth(LEAVES[:n])
            for i in range(n):
                verify_inclusion(leaf_hash(LEAVES[i]), i, n, path(i, LEAVES[:n]), root)

    def test_bad_proofs(self):
        n, i = 21, 13
        root = mth(LEAVES[:n])
        good = path(i, LEAVES[:n])
        leaf = leaf_hash(LEAVES[i])
        verify_inclusion(leaf, i, n, good, root)
        cases = {
            "flipped leaf bit": (flip(leaf, 77), i, n, good, root),
            "flipped proof bit": (leaf, i, n, [good[0], flip(good[1], 3)] + good[2:], root),
            "flipped root bit": (leaf, i, n, good, flip(root, 255)),
            "wrong index": (leaf, i + 1, n, good, root),
            "wrong size": (leaf, i, 2 * n, good, root),
            "truncated proof": (leaf, i, n, good[:-1], root),
            "extended proof": (leaf, i, n, good + [good[0]], root),
            "empty proof": (leaf, i, n, [], root),
            "short hash": (leaf, i, n, [good[0][:31]] + good[1:], root),
            "index beyond size": (leaf, n, n, good, root),
            "size zero": (leaf, 0, 0, [], EMPTY_ROOT),
            "swapped siblings": (leaf, i, n, list(reversed(good)), root),
        }
        for name, args in cases.items():
            with self.subTest(name), self.assertRaises(ProofError):
                verify_inclusion(*args)

    def test_single_leaf(self):
        verify_inclusion(leaf_hash(b"a"), 0, 1, [], leaf_hash(b"a"))
        with self.assertRaises(ProofError):
            verify_inclusion(leaf_hash(b"a"), 0, 1, [leaf_hash(b"b")], leaf_hash(b"a"))

    def test_subtree_inclusion(self):
        n = 1000
        leaves = [b"%d" % i for i in range(n)]
        root = mth(leaves)
        for k in (0, 1, 2):
            node = subtree_hash([leaf_hash(e) for e in leaves[k * 256:(k + 1) * 256]])
            verify_subtree_inclusion(node, 8, k, n, path(k * 256, leaves)[8:], root)
            with self.assertRaises(ProofError):
                verify_subtree_inclusion(flip(node), 8, k, n, path(k * 256, leaves)[8:], root)
        with self.assertRaises(ProofError):  # the fourth block is not complete
            verify_subtree_inclusion(b"\x00" * 32, 8, 3, n, [], root)


class ConsistencyTest(unittest.TestCase):
    def test_every_proof_of_small_trees(self):
        for n in range(1, 34):
            for m in range(1, n + 1):
                verify_consistency(m, n, mth(LEAVES[:m]), mth(LEAVES[:n]), proof(m, LEAVES[:n]))

    def test_bad_proofs(self):
        for m, n in ((4, 9), (7, 21), (13, 64), (1, 2), (16, 17)):
            old, new = mth(LEAVES[:m]), mth(LEAVES[:n])
            good = proof(m, LEAVES[:n])
            verify_consistency(m, n, old, new, good)
            cases = {
                "flipped old root": (m, n, flip(old), new, good),
                "flipped new root": (m, n, old, flip(new, 100), good),
                "flipped proof bit": (m, n, old, new, [flip(good[0], 9)] + good[1:]),
                "truncated proof": (m, n, old, new, good[:-1]),
                "extended proof": (m, n, old, new, good + [good[-1]]),
                "empty proof": (m, n, old, new, []),
                "wrong old size": (m + 1, n, old, new, good),
                "wrong new size": (m, 2 * n, old, new, good),
                "old root of another tree": (m, n, mth(LEAVES[1:m + 1]), new, good),
            }
            for name, args in cases.items():
                with self.subTest(f"{m}->{n}: {name}"), self.assertRaises(ProofError):
                    verify_consistency(*args)

    def test_ranges(self):
        r = mth(LEAVES[:5])
        verify_consistency(5, 5, r, r, [])
        for args in ((5, 5, r, flip(r), []), (5, 5, r, r, [r]), (0, 5, EMPTY_ROOT, r, []), (6, 5, r, r, [r])):
            with self.subTest(args[:2]), self.assertRaises(ProofError):
                verify_consistency(*args)


if __name__ == "__main__":
    unittest.main()
