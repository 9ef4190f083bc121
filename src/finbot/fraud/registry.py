"""Stores model versions on disk, one directory each, so a running scorer can always be traced
to the exact model, data and metrics it came from, and a damaged model is never loaded.

Layout: ``<root>/<version>/{model.txt, meta.json, card.md}``. A version is assembled in a
hidden staging directory (every file written to a temp file, fsynced and ``os.replace``d) and
then renamed into place, so readers never see a half-written version.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from finbot.domain.errors import FinbotError, NotFound
from finbot.fraud.card import render_card
from finbot.fraud.metadata import ModelInfo
from finbot.fraud.metrics import Metrics
from finbot.fraud.scorer import Scorer
from finbot.fraud.synthetic import generate
from finbot.fraud.training import TrainedModel, evaluate, model_hash, train, version_for

_VERSION = re.compile(r"fraud-[0-9a-f]{12}")


class UnknownModel(NotFound):
    """Raised when a model version is not in the registry or is not a valid version id."""

    code = "model_unknown"


class TamperedModel(FinbotError):
    """Raised when a stored model file no longer matches the hash recorded when it was saved."""

    code = "model_tampered"


def _write_atomic(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelRegistry:
    """Model versions under ``root``, each named ``fraud-`` plus 12 hex digits of its hash."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, trained: TrainedModel, metrics: Metrics, *, created_at: str) -> ModelInfo:
        """Store ``trained``; saving a model that is already stored returns the stored info."""
        final = self.root / trained.version
        if final.exists():
            return self._existing(trained)
        self.root.mkdir(parents=True, exist_ok=True)
        info = ModelInfo.of(trained, metrics, created_at=created_at)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging-"))
        try:
            self._write_version(staging, trained.model_string, info)
            os.rename(staging, final)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if final.exists():
                return self._existing(trained)
            raise
        _fsync_dir(self.root)
        return info

    def _existing(self, trained: TrainedModel) -> ModelInfo:
        info = self.info(trained.version)
        if info.model_hash != trained.model_hash:
            raise TamperedModel(f"{trained.version} is stored with a different model hash")
        return info

    @staticmethod
    def _write_version(directory: Path, model_string: str, info: ModelInfo) -> None:
        _write_atomic(directory / "model.txt", model_string)
        _write_atomic(directory / "meta.json",
                      json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n")
        _write_atomic(directory / "card.md", render_card(info))
        _fsync_dir(directory)

    def _directory(self, version: str) -> Path:
        directory = self.root / version
        if not _VERSION.fullmatch(version) or not (directory / "meta.json").is_file():
            raise UnknownModel(f"no fraud model version {version!r} in {self.root}")
        return directory

    def info(self, version: str) -> ModelInfo:
        meta = (self._directory(version) / "meta.json").read_text(encoding="utf-8")
        return ModelInfo.from_dict(json.loads(meta))

    def load(self, version: str) -> Scorer:
        """A scorer for ``version``, after checking ``model.txt`` against the recorded hash."""
        info = self.info(version)
        text = (self._directory(version) / "model.txt").read_text(encoding="utf-8")
        actual = model_hash(text)
        if actual != info.model_hash or version_for(actual) != version:
            raise TamperedModel(f"{version}: model.txt has hash {actual}, "
                                f"but {info.model_hash} was recorded when it was saved")
        return Scorer(text, version=version)

    def card(self, version: str) -> str:
        return (self._directory(version) / "card.md").read_text(encoding="utf-8")

    def versions(self) -> list[str]:
        """Every stored version, oldest first (by ``created_at``, then id)."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir()
                 if _VERSION.fullmatch(p.name) and (p / "meta.json").is_file()]
        return sorted(found, key=lambda v: (self.info(v).created_at, v))

    def latest(self) -> ModelInfo:
        versions = self.versions()
        if not versions:
            raise UnknownModel(f"no fraud model versions in {self.root}")
        return self.info(versions[-1])


DEFAULT_TRAINING = {"vendors": 300, "invoices": 6000, "fraud_rate": 0.02, "seed": 7}
"""What ``finbot model train`` uses by default, and what a fresh install trains on first
use (about five seconds), so the fraud agent always has a model to score with."""


def latest_or_default(registry: ModelRegistry, *, created_at: str,
                      training: dict[str, float] | None = None) -> Scorer:
    """The newest registered model; with none registered, train and register the default."""
    if not registry.versions():
        spec = {**DEFAULT_TRAINING, **(training or {})}
        dataset = generate(vendors=int(spec["vendors"]), invoices=int(spec["invoices"]),
                           fraud_rate=float(spec["fraud_rate"]), seed=int(spec["seed"]))
        trained = train(dataset, seed=int(spec["seed"]))
        registry.save(trained, evaluate(trained, trained.test_set, review_budget=0.02),
                      created_at=created_at)
    return registry.load(registry.latest().version)
