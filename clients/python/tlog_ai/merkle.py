"""RFC 6962 / RFC 9162 Merkle tree hashing and proof verification.

Hashes are SHA-256: a leaf hash is ``SHA-256(0x00 || entry)``, an interior
node ``SHA-256(0x01 || left || right)``, the empty tree ``SHA-256("")``.

:func:`verify_inclusion` and :func:`verify_consistency` are transcriptions
of the verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, with the
same range rules as the Go log (``proofs.CheckInclusion`` and
``proofs.CheckConsistency``): an index must be below the tree size, a
consistency proof needs ``0 < old_size <= new_size``, and every hash is 32
bytes. They raise :class:`~tlog_ai.errors.ProofError` on failure and
return ``None`` on success.
"""

from __future__ import annotations

import hashlib
from typing import List, Sequence

from .errors import ProofError

__all__ = [
    "HASH_SIZE",
    "EMPTY_ROOT",
    "leaf_hash",
    "node_hash",
    "subtree_hash",
    "root_from_range",
    "verify_inclusion",
    "verify_consistency",
    "verify_subtree_inclusion",
]

#: Size of every hash in the tree.
HASH_SIZE = 32

#: Root hash of the empty tree, SHA-256 of nothing.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 6962 leaf hash of ``entry``: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + bytes(entry)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def subtree_hash(hashes: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash of a power-of-two run of hashes (the
    hash of the perfect subtree whose leaves, or lower nodes, they are)."""
    n = len(hashes)
    if n == 0 or n & (n - 1):
        raise ValueError(f"subtree_hash needs a power of two of hashes, got {n}")
    level: List[bytes] = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def root_from_range(hashes: Sequence[bytes]) -> bytes:
    """Return the root of a tree from its compact range ``[0, size)``: the
    hashes of its perfect subtrees from the left (largest) to the right
    (smallest). The empty range gives :data:`EMPTY_ROOT`."""
    if not hashes:
        return EMPTY_ROOT
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _check_hash(h: bytes, what: str) -> bytes:
    if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")
    return bytes(h)


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``proof`` proves the leaf hash ``leaf`` at ``index`` in the
    tree of ``tree_size`` entries and root hash ``root`` (RFC 9162
    §2.1.3.2). Raises :class:`ProofError` if it does not."""
    leaf = _check_hash(leaf, "leaf hash")
    root = _check_hash(root, "root hash")
    if index < 0 or tree_size < 0 or index >= tree_size:
        raise ProofError(f"index {index} is not below tree size {tree_size}")
    fn, sn = index, tree_size - 1
    r = leaf
    for i, p in enumerate(proof):
        p = _check_hash(p, f"proof hash {i + 1}")
        if sn == 0:
            raise ProofError(f"inclusion of index {index} in tree size {tree_size}: proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion of index {index} in tree size {tree_size}: proof is too short")
    if r != root:
        raise ProofError(
            f"inclusion of index {index} in tree size {tree_size}: computed root {r.hex()}, expected {root.hex()}"
        )


def verify_subtree_inclusion(
    node: bytes, level: int, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the perfect subtree of height ``level`` at position
    ``index`` (its leaves are ``[index << level, (index + 1) << level)``,
    all below ``tree_size``) has hash ``node`` in the tree of ``tree_size``
    and ``root``. ``proof`` is the part of a leaf's inclusion proof above
    that subtree (a leaf proof without its first ``level`` hashes)."""
    if (index + 1) << level > tree_size:
        raise ProofError(f"subtree {level}/{index} is not complete in tree size {tree_size}")
    # At the subtree's level the RFC 9162 walk is that of a leaf at
    # position index in a tree whose last position is (size-1) >> level.
    verify_inclusion(node, index, ((tree_size - 1) >> level) + 1, proof, root)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that ``proof`` proves the tree of ``old_size`` entries and root
    ``old_root`` is a prefix of the tree of ``new_size`` entries and root
    ``new_root`` (RFC 9162 §2.1.4.2). Requires ``0 < old_size <= new_size``
    (there is no proof from the empty tree, and the proof between equal
    sizes is empty). Raises :class:`ProofError` if it does not verify."""
    old_root = _check_hash(old_root, "old root hash")
    new_root = _check_hash(new_root, "new root hash")
    path = [_check_hash(p, f"proof hash {i + 1}") for i, p in enumerate(proof)]
    if old_size <= 0 or old_size > new_size:
        raise ProofError(f"consistency needs 0 < old <= new, got old {old_size}, new {new_size}")
    if old_size == new_size:
        if path:
            raise ProofError(f"consistency of tree size {old_size} with itself: proof must be empty")
        if old_root != new_root:
            raise ProofError(
                f"tree size {old_size}: roots differ ({old_root.hex()} and {new_root.hex()})"
            )
        return
    if not path:
        raise ProofError(f"consistency of tree size {old_size} with {new_size}: empty proof")
    # 2. If the old size is an exact power of 2, prepend the old root.
    if old_size & (old_size - 1) == 0:
        path = [old_root] + path
    # 3.-4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency of tree size {old_size} with {new_size}: proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise ProofError(f"consistency of tree size {old_size} with {new_size}: proof is too short")
    if fr != old_root:
        raise ProofError(
            f"consistency of tree size {old_size} with {new_size}: computed old root {fr.hex()}, expected {old_root.hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency of tree size {old_size} with {new_size}: computed new root {sr.hex()}, expected {new_root.hex()}"
        )
