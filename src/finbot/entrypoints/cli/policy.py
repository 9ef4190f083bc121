"""``finbot policy …``: publish a policy file as a new version, show a version."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
import yaml

from finbot.bootstrap import bootstrap
from finbot.domain.audit import canonical_json
from finbot.domain.errors import InvalidInput
from finbot.domain.policy import CURRENCY_AMOUNTS
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.policy.shipped import shipped_policy_text

policy_cli = typer.Typer(help="Versioned guardrail policy.", no_args_is_help=True)


def load_policy_file(path: Path | None) -> dict[str, Any]:
    """A policy mapping from YAML; without a path, the policy shipped with FinBot."""
    try:
        text = path.read_text() if path is not None else shipped_policy_text()
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as error:
        raise InvalidInput(f"cannot read the policy: {error}", field="file") from None
    if not isinstance(data, dict):
        raise InvalidInput("a policy file holds a mapping with `hard`, `soft` and `review`",
                           field="file")
    return data


@policy_cli.command("publish")
@reports_errors
def publish(path: Path = typer.Argument(None, help="YAML file; default: the shipped policy.")
            ) -> None:
    """Check a policy and store it as the next version (the same content is not re-added)."""
    policy = bootstrap().policies.publish(load_policy_file(path))
    console.print(f"current policy: {policy.version} ({policy.digest[:12]})")


@policy_cli.command("show")
@reports_errors
def show(version: str = typer.Option(None, help="A past version; default: the current one.")
         ) -> None:
    """Print a policy version and its content digest."""
    app = bootstrap()
    policy = app.policies.get(version) if version else app.policies.current()
    console.print(f"{policy.version} digest {policy.digest}")
    console.print_json(canonical_json({
        "base_currency": policy.base_currency, "hard": _plain(policy.hard),
        "soft": _plain(policy.soft), "review": _plain(policy.review),
        "currencies": {code: {name: str(getattr(getattr(limits, section), name))
                              for section, names in CURRENCY_AMOUNTS.items() for name in names}
                       for code, limits in sorted(policy.currencies.items())}}))


def _plain(limits: Any) -> dict[str, Any]:
    return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(limits).items()}
