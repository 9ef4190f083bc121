"""The redaction every log line passes on its way out, whoever wrote it.

A value under a key that names a secret (password, token, secret, API key, authorization,
cookie, session, key material) is masked whole. Every other string, the message and a
formatted traceback included, loses personal and banking data (``privacy.redaction``:
IBANs, card numbers, tax ids, e-mail addresses, account numbers), bearer credentials and
FinBot API tokens, the values of secret-named parameters (``?token=…``,
``password=…``), and any of the process's own secrets it was given. Values of other kinds
are made text first, so nothing reaches the renderer unread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from finbot.privacy.redaction import redact_text

MASK = "[redacted]"
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "token", "secret", "authorization",
    "cookie", "session", "credential", "credentials", "apikey", "signature", "dek", "kek"})
_SECRET_PHRASES = ("api_key", "private_key", "secret_key", "access_key", "set_cookie",
                   "key_material", "master_key", "wrapped_key", "encryption_key")
_SECRET_NAME = r"[\w-]*(?:token|password|passwd|secret|api[_-]?key|session|signature)"  # noqa: S105
_VALUE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[\w.~+/=-]{6,}"), rf"\1 {MASK}"),
    (re.compile(r"\b(Basic)\s+[A-Za-z0-9+/]{12,}={0,2}"), rf"\1 {MASK}"),
    # FinBot API tokens (``services.auth.TOKEN_PREFIX``), wherever they appear
    (re.compile(r"\bfbt_[\w-]+"), f"fbt_{MASK}"),
    (re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&;\s#\"']+"), rf"\1{MASK}"),
    (re.compile(rf"(?i)\b({_SECRET_NAME})(\"?'?\s*[:=]\s*)[^\s,;&)}}\[\]][^\s,;&)}}\]]*"),
     rf"\1\2{MASK}"),
)
_PLAIN = (int, float, bool, type(None))


def secret_key(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (``input_tokens`` does not)."""
    normal = name.lower().replace("-", "_")
    return (any(part in _SECRET_WORDS for part in normal.split("_"))
            or any(phrase in normal for phrase in _SECRET_PHRASES))


class Scrubber:
    """A structlog processor: the event dict with secrets masked and PII redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, known))) if known else None

    def __call__(self, _logger: object, _method: str,
                 event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event.items():
            event[key] = MASK if secret_key(key) else self.value(value)
        return event

    def value(self, value: Any) -> Any:
        """``value`` scrubbed: mappings by key, sequences item by item, the rest as text."""
        if isinstance(value, _PLAIN):
            return value
        if isinstance(value, Mapping):
            return {str(k): MASK if secret_key(str(k)) else self.value(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        return self.text(value if isinstance(value, str) else str(value))

    def text(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(MASK, text)
        for pattern, replacement in _VALUE_RULES:
            text = pattern.sub(replacement, text)
        return redact_text(text)
