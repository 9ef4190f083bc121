"""The policy FinBot ships with (``default.yaml``), for a first publish, the simulation,
the benches and the tests."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def shipped_policy_text() -> str:
    return resources.files("finbot.policy").joinpath("default.yaml").read_text()


def shipped_policy() -> dict[str, Any]:
    """The shipped policy as a mapping, ready for ``PolicyStore.publish``."""
    return dict(yaml.safe_load(shipped_policy_text()))
