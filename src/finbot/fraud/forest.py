"""A numpy evaluator for a LightGBM binary model, because ``Booster.predict`` costs too much
per call to score one payment inside the payment path.

``compile_forest`` flattens ``Booster.dump_model()`` into arrays. Every tree is walked one
level at a time, all trees at once; a leaf points to itself, so extra steps are harmless.
Attributions are Saabas-style: each split on the path is credited with the change in the
node's expected value (``internal_value``), so ``bias + sum(contributions) == raw score``.
They are cheaper than, and can differ from, LightGBM's exact TreeSHAP (``pred_contrib``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Forest:
    """Flattened trees: per node a split (feature, threshold), children and expected value."""

    feature: NDArray[np.intp]
    threshold: NDArray[np.float64]
    children: NDArray[np.intp]
    value: NDArray[np.float64]
    path_contrib: NDArray[np.float64]
    roots: NDArray[np.intp]
    depth: int
    bias: float
    sigmoid: float

    def leaves(self, x: NDArray[np.float64]) -> NDArray[np.intp]:
        """The leaf each tree sends the feature row ``x`` to."""
        nodes = self.roots
        for _ in range(self.depth):
            go_right = x[self.feature[nodes]] > self.threshold[nodes]
            nodes = self.children[nodes, go_right.view(np.uint8)]
        return nodes

    def leaves_batch(self, matrix: NDArray[np.float64]) -> NDArray[np.intp]:
        """Leaves per row (rows by trees) for a feature matrix."""
        rows = np.arange(len(matrix))[:, None]
        nodes = np.broadcast_to(self.roots, (len(matrix), len(self.roots)))
        for _ in range(self.depth):
            go_right = matrix[rows, self.feature[nodes]] > self.threshold[nodes]
            nodes = self.children[nodes, go_right.view(np.uint8)]
        return nodes

    def probability(self, raw: float) -> float:
        return 1.0 / (1.0 + math.exp(-self.sigmoid * raw))


class _Builder:
    def __init__(self, n_features: int) -> None:
        self.n_features = n_features
        self.rows: list[tuple[int, float, int, int, float]] = []
        self.contribs: list[NDArray[np.float64]] = []

    def add(self, node: Mapping[str, Any], path: NDArray[np.float64]) -> tuple[int, int]:
        """Append ``node`` and its subtree; return its index and subtree depth."""
        index = len(self.rows)
        if "leaf_value" in node:
            self.rows.append((0, math.inf, index, index, float(node["leaf_value"])))
            self.contribs.append(path)
            return index, 0
        _check_split(node)
        value = float(node["internal_value"])
        feature = int(node["split_feature"])
        self.rows.append((feature, float(node["threshold"]), -1, -1, value))
        self.contribs.append(np.zeros(self.n_features))
        left, left_depth = self.add(node["left_child"], _step(path, feature, node, "left_child"))
        right, right_depth = self.add(node["right_child"],
                                      _step(path, feature, node, "right_child"))
        self.rows[index] = (feature, float(node["threshold"]), left, right, value)
        return index, 1 + max(left_depth, right_depth)


def _expected(node: Mapping[str, Any]) -> float:
    return float(node["leaf_value"] if "leaf_value" in node else node["internal_value"])


def _step(path: NDArray[np.float64], feature: int, node: Mapping[str, Any],
          side: str) -> NDArray[np.float64]:
    child = path.copy()
    child[feature] += _expected(node[side]) - float(node["internal_value"])
    return child


def _check_split(node: Mapping[str, Any]) -> None:
    if node.get("decision_type") != "<=" or node.get("missing_type") not in ("None", "NaN"):
        raise ValueError("only numerical '<=' splits without zero-as-missing are supported")


def _sigmoid(dump: Mapping[str, Any]) -> float:
    objective = str(dump.get("objective", ""))
    if not objective.startswith("binary") or dump.get("average_output"):
        raise ValueError(f"only boosted binary models are supported, not {objective!r}")
    settings = dict(part.split(":", 1) for part in objective.split()[1:] if ":" in part)
    return float(settings.get("sigmoid", 1.0))


def compile_forest(dump: Mapping[str, Any]) -> Forest:
    """Flatten a ``Booster.dump_model()`` of a binary model into a ``Forest``."""
    builder = _Builder(int(dump["max_feature_idx"]) + 1)
    roots, depth = [], 0
    for tree in dump["tree_info"]:
        root, tree_depth = builder.add(tree["tree_structure"], np.zeros(builder.n_features))
        roots.append(root)
        depth = max(depth, tree_depth)
    feature, threshold, left, right, value = (np.array(col) for col in zip(*builder.rows,
                                                                           strict=True))
    values = value.astype(np.float64)
    return Forest(feature.astype(np.intp), threshold.astype(np.float64),
                  np.stack([left, right], axis=1).astype(np.intp), values,
                  np.array(builder.contribs, dtype=np.float64), np.array(roots, dtype=np.intp),
                  depth, float(values[roots].sum()), _sigmoid(dump))
