"""The global switch on network model calls: tests can never reach a paid model.

A provider asks ``check_model_request(url)`` before every call. Under pytest (it sets
PYTEST_CURRENT_TEST) or with FINBOT_MODEL_REQUESTS=local-only only loopback servers may
be called; ``deny`` refuses all. The strictest of the process setting, the environment and
the test guard wins, so no fixture can be forgotten into a paid call.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from urllib.parse import urlsplit

from finbot.domain.errors import ModelRequestsForbidden


class ModelRequests(IntEnum):
    """How far a model call may go; a larger value is stricter."""

    ALLOW = 0
    LOCAL_ONLY = 1
    DENY = 2


_NAMES = {"allow": ModelRequests.ALLOW, "local-only": ModelRequests.LOCAL_ONLY,
          "deny": ModelRequests.DENY}
_process_setting = [ModelRequests.ALLOW]


def effective_setting() -> ModelRequests:
    setting = _process_setting[-1]
    named = os.environ.get("FINBOT_MODEL_REQUESTS", "allow").strip().lower()
    if named not in _NAMES:
        raise ModelRequestsForbidden(
            f"FINBOT_MODEL_REQUESTS={named!r} is not one of {', '.join(_NAMES)}")
    setting = max(setting, _NAMES[named])
    if "PYTEST_CURRENT_TEST" in os.environ:
        setting = max(setting, ModelRequests.LOCAL_ONLY)
    return setting


@contextmanager
def model_requests(setting: ModelRequests) -> Iterator[None]:
    """Run a block under a setting (it can tighten what the environment allows, never
    loosen it)."""
    _process_setting.append(setting)
    try:
        yield
    finally:
        _process_setting.pop()


def check_model_request(base_url: str) -> None:
    """Raise ModelRequestsForbidden unless a call to ``base_url`` is allowed now."""
    setting = effective_setting()
    if setting is ModelRequests.ALLOW:
        return
    if setting is ModelRequests.LOCAL_ONLY and _is_loopback(base_url):
        return
    raise ModelRequestsForbidden(
        f"a model call to {urlsplit(base_url).hostname or base_url!r} is refused: model "
        f"requests are {setting.name.lower().replace('_', '-')} here (tests never reach "
        "a network model; set FINBOT_MODEL_REQUESTS=allow outside tests)")


def _is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
