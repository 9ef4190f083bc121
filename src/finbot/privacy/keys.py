"""Envelope keys for vendors' bank and tax details: a key-encryption key (KEK) per version,
each vendor's random data key wrapped by one of them, and a keyed blind index for equality
lookups on values that are only stored encrypted.

A wrapped data key is bound to its vendor and KEK version, and a sealed field to its
vendor, field name and data-key version (AES-GCM associated data), so no ciphertext can be
moved to another vendor or field. Destroying a vendor's wrapped key shreds its fields:
they read as ``ERASED`` from then on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from finbot.domain.errors import ConfigurationError, FinbotError
from finbot.domain.vendors import ERASED

KEY_BYTES = 32
NONCE_BYTES = 12
DEVELOPMENT_VERSION = 0
"""The KEK version of the development key: public, so refused outside development."""
_DEVELOPMENT_KEK = hashlib.sha256(
    b"finbot DEVELOPMENT key-encryption key: public, never for production data").digest()
_TOKEN = re.compile(r"^fb1\.(\d+)\.([A-Za-z0-9_-]+)$")
_DEV_ENVIRONMENTS = ("development", "test")


class KeyUnavailable(ConfigurationError):
    """Raised when a wrapped key names a KEK version this process was not given."""

    code = "kek_unavailable"


class SealBroken(FinbotError):
    """Raised when a ciphertext fails authentication: tampered, truncated, or moved to
    another vendor, field or key."""

    code = "ciphertext_invalid"


def _derive(kek: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=b"finbot/" + purpose).derive(kek)


def normalised(value: str) -> str:
    """How a value is compared: case, spaces and hyphens ignored (``DE89 3704…`` equals
    ``de893704…``)."""
    return re.sub(r"[\s-]", "", value).upper()


class KeyRing:
    """The KEKs this process knows, by version; the newest wraps new data keys."""

    def __init__(self, keks: Mapping[int, bytes], *, current: int | None = None) -> None:
        if not keks:
            raise ConfigurationError("a key ring needs at least one KEK", field="kek")
        for version, kek in keks.items():
            if len(kek) != KEY_BYTES or version < 0:
                raise ConfigurationError(f"KEK version {version} must be {KEY_BYTES} random "
                                         "bytes with a version of 0 or more", field="kek")
        self.current = max(keks) if current is None else current
        if self.current not in keks:
            raise ConfigurationError(f"no KEK of version {self.current}", field="kek")
        self._wrap = {v: AESGCM(_derive(k, b"wrap")) for v, k in keks.items()}
        self._index = {v: _derive(k, b"blind-index") for v, k in keks.items()}

    @classmethod
    def development(cls) -> KeyRing:
        """The development ring: a KEK derived from a public constant (version 0)."""
        return cls({DEVELOPMENT_VERSION: _DEVELOPMENT_KEK})

    @property
    def versions(self) -> list[int]:
        """The known KEK versions, newest first."""
        return sorted(self._wrap, reverse=True)

    def wrap(self, vendor_id: str, data_key: bytes) -> tuple[int, str]:
        """``data_key`` wrapped by the current KEK: (KEK version, text to store)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._wrap[self.current].encrypt(
            nonce, data_key, _wrap_aad(vendor_id, self.current))
        return self.current, _b64(nonce + sealed)

    def unwrap(self, vendor_id: str, kek_version: int, wrapped: str) -> bytes:
        """The data key ``wrap`` stored; KeyUnavailable for an unknown KEK version."""
        aead = self._wrap.get(kek_version)
        if aead is None:
            raise KeyUnavailable(
                f"vendor keys are wrapped by KEK version {kek_version}, which this process "
                f"does not hold (it holds {self.versions}); add it to FINBOT_KEK_PREVIOUS "
                "until `finbot keys rotate` has re-wrapped them", field="kek")
        raw = _unb64(wrapped)
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                _wrap_aad(vendor_id, kek_version))
        except InvalidTag:
            raise SealBroken(f"the data key of vendor {vendor_id!r} does not authenticate",
                             field="vendor_keys") from None

    def blind_index(self, field: str, value: str, *, version: int | None = None) -> str | None:
        """The keyed HMAC that stands for ``value`` in equality lookups (None for an empty
        value), under the blind-index key of KEK ``version`` (default: the current)."""
        value = normalised(value)
        if not value:
            return None
        key = self._index[self.current if version is None else version]
        return hmac.new(key, f"{field}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def blind_indexes(self, field: str, value: str) -> list[str]:
        """``value``'s blind index under every known KEK version: what a lookup matches
        while a rotation has re-indexed some vendors and not yet others."""
        found = (self.blind_index(field, value, version=v) for v in self.versions)
        return [index for index in found if index is not None]


@dataclass(frozen=True)
class DataKey:
    """One vendor's data key, unwrapped (``key`` None once destroyed): it seals and opens
    that vendor's fields."""

    vendor_id: str
    version: int
    key: bytes | None

    @classmethod
    def new(cls, vendor_id: str, *, version: int = 1) -> DataKey:
        return cls(vendor_id, version, AESGCM.generate_key(bit_length=8 * KEY_BYTES))

    def seal(self, field: str, text: str) -> str:
        """``text`` encrypted for this vendor's ``field``: ``fb1.<key version>.<nonce and
        ciphertext, base64url>``."""
        if self.key is None:
            raise SealBroken(f"vendor {self.vendor_id!r} was erased; nothing can be "
                             "sealed for it", code="vendor_erased", field=field)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, text.encode(),
                                          _field_aad(self.vendor_id, field, self.version))
        return f"fb1.{self.version}.{_b64(nonce + sealed)}"

    def open(self, field: str, token: str) -> str:
        """The text ``seal`` encrypted; ``ERASED`` once the key is destroyed; SealBroken
        for a token that was altered or belongs to another vendor, field or key."""
        if self.key is None:
            return ERASED
        match = _TOKEN.match(token)
        if match is None or int(match.group(1)) != self.version:
            raise SealBroken(f"{field} of vendor {self.vendor_id!r} is not sealed with its "
                             "current data key", field=field)
        raw = _unb64(match.group(2))
        try:
            plain = AESGCM(self.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                             _field_aad(self.vendor_id, field, self.version))
        except InvalidTag:
            raise SealBroken(f"{field} of vendor {self.vendor_id!r} does not authenticate",
                             field=field) from None
        return plain.decode()


def is_sealed(value: str) -> bool:
    """Whether ``value`` looks like a sealed field (as opposed to legacy plain text)."""
    return _TOKEN.match(value) is not None


def keyring_from(*, kek: str | None, kek_file: Path | None, previous: str | None,
                 environment: str) -> KeyRing:
    """The key ring a deployment configured: FINBOT_KEK or the file FINBOT_KEK_FILE (a
    container secret) give the current KEK(s), FINBOT_KEK_PREVIOUS older ones still to be
    read during a rotation. Each entry is ``VERSION:KEY`` (or a bare key, version 1), the key
    32 bytes in base64 or hex; the highest version wraps new keys. Without any, development
    and test use the public development KEK and every other environment refuses to start."""
    current = parse_keks(kek or "", source="FINBOT_KEK")
    if kek_file is not None:
        try:
            text = kek_file.read_text()
        except OSError as error:
            raise ConfigurationError(f"FINBOT_KEK_FILE={kek_file} cannot be read: "
                                     f"{error.strerror}", field="kek_file") from None
        current.update(parse_keks(text, source="FINBOT_KEK_FILE"))
    development = environment in _DEV_ENVIRONMENTS
    if not current:
        if not development:
            raise ConfigurationError(
                "set FINBOT_KEK or FINBOT_KEK_FILE to a random 32-byte key (base64) when "
                f"FINBOT_ENVIRONMENT={environment}; the development key is public",
                field="kek")
        current = {DEVELOPMENT_VERSION: _DEVELOPMENT_KEK}
    older = parse_keks(previous or "", source="FINBOT_KEK_PREVIOUS")
    keks = {**older, **current}
    if development:
        keks.setdefault(DEVELOPMENT_VERSION, _DEVELOPMENT_KEK)
    return KeyRing(keks, current=max(current))


def parse_keks(text: str, *, source: str) -> dict[int, bytes]:
    """``VERSION:KEY`` entries separated by commas, spaces or lines (a bare key is
    version 1); ConfigurationError naming ``source`` for anything else."""
    keks: dict[int, bytes] = {}
    for entry in re.split(r"[\s,]+", text.strip()):
        if not entry:
            continue
        version_text, _, key_text = entry.rpartition(":")
        if version_text and not version_text.isdigit():
            raise ConfigurationError(f"{source}: {version_text!r} is not a KEK version",
                                     field="kek")
        version = int(version_text) if version_text else 1
        keks[version] = _key_bytes(key_text, source=source, version=version)
    return keks


def new_kek_text(version: int) -> str:
    """A fresh KEK entry, as ``finbot keys new`` prints it."""
    return f"{version}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def _key_bytes(text: str, *, source: str, version: int) -> bytes:
    try:
        raw = bytes.fromhex(text) if re.fullmatch(r"[0-9a-fA-F]{64}", text) else (
            base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_"
                             if ("-" in text or "_" in text) else None, validate=True))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigurationError(f"{source}: KEK version {version} is not {KEY_BYTES} bytes "
                                 "in base64 or hex", field="kek")
    return raw


def _wrap_aad(vendor_id: str, kek_version: int) -> bytes:
    return f"finbot/data-key/{kek_version}/{vendor_id}".encode()


def _field_aad(vendor_id: str, field: str, key_version: int) -> bytes:
    return f"finbot/field/{key_version}/{field}/{vendor_id}".encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SealBroken("a sealed value is not base64url") from None
