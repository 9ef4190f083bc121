"""RFC 6962 Merkle trees: every leaf's proof verifies; a wrong leaf or root never does."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from finbot.domain.merkle import (
    MerkleAccumulator,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_inclusion,
)


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"record {i}".encode()) for i in range(n)]


def test_small_trees_follow_rfc_6962_shape() -> None:
    a, b, c = leaves(3)
    assert root([]) == hashlib.sha256(b"").digest()
    assert root([a]) == a
    assert root([a, b]) == node_hash(a, b)
    assert root([a, b, c]) == node_hash(node_hash(a, b), c)


@given(st.integers(1, 70), st.data())
def test_every_inclusion_proof_verifies_and_a_forged_one_does_not(n: int,
                                                                  data: st.DataObject) -> None:
    tree = leaves(n)
    index = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(index, tree)
    top = root(tree)
    assert verify_inclusion(tree[index], index, n, proof, top)
    assert not verify_inclusion(leaf_hash(b"forged"), index, n, proof, top)
    if n > 1:
        assert not verify_inclusion(tree[index], (index + 1) % n, n, proof, top)


@given(st.integers(0, 150))
def test_the_accumulator_gives_the_root_of_every_prefix(n: int) -> None:
    tree, acc = leaves(n), MerkleAccumulator()
    for i, leaf in enumerate(tree):
        acc.add(leaf)
        if i % 7 == 0:
            assert acc.root() == root(tree[: i + 1])
    assert acc.root() == root(tree)
