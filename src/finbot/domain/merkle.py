"""RFC 6962 Merkle trees over audit-record hashes: roots and inclusion proofs.

A checkpoint stores the root over the first ``n`` records; a proof of a few hashes shows
that one record is among them without handing over the whole log (RFC 6962, section 2.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of already-hashed leaves; the empty tree hashes the empty string."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    return _root(level, 0, len(level))


def _root(leaves: list[bytes], start: int, end: int) -> bytes:
    size = end - start
    if size == 1:
        return leaves[start]
    k = _split(size)
    return node_hash(_root(leaves, start, start + k), _root(leaves, start + k, end))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the sibling hashes from leaf ``index`` up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} is not in a tree of {len(leaves)}")
    return _path(index, list(leaves), 0, len(leaves))


def _path(m: int, leaves: list[bytes], start: int, end: int) -> list[bytes]:
    size = end - start
    if size == 1:
        return []
    k = _split(size)
    if m < k:
        return [*_path(m, leaves, start, start + k), _root(leaves, start + k, end)]
    return [*_path(m - k, leaves, start + k, end), _root(leaves, start, start + k)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     expected_root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` place ``leaf`` at ``index`` under the root?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(sibling, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


class MerkleAccumulator:
    """Roots of every prefix of a growing log in O(n) total: a stack of perfect subtrees.

    RFC 6962's tree of size n is its perfect subtrees (largest on the left) folded from the
    right, so the root of any prefix is available as records stream past.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        size, node = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, node_hash(left, node)
        self._stack.append((size, node))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node
