"""The envelope keys: sealed fields round-trip, refuse tampering and moving, survive a KEK
rotation, read as erased once shredded; blind indexes compare values, not spellings."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from finbot.domain.errors import ConfigurationError
from finbot.domain.vendors import ERASED
from finbot.privacy.keys import (
    DEVELOPMENT_VERSION,
    DataKey,
    KeyRing,
    KeyUnavailable,
    SealBroken,
    is_sealed,
    keyring_from,
    new_kek_text,
)

IBAN = "DE89370400440532013000"
KEK1, KEK2 = bytes(range(32)), bytes(range(1, 33))


def ring(*versions: int, current: int | None = None) -> KeyRing:
    keks = {1: KEK1, 2: KEK2}
    return KeyRing({v: keks[v] for v in versions}, current=current)


def test_a_sealed_field_opens_to_its_plaintext_and_hides_it() -> None:
    key = DataKey.new("v-1")
    token = key.seal("iban", IBAN)
    assert IBAN not in token
    assert is_sealed(token)
    assert token != key.seal("iban", IBAN)  # a fresh nonce every time
    assert key.open("iban", token) == IBAN
    assert key.open("tax_id", key.seal("tax_id", "")) == ""


def test_a_tampered_ciphertext_fails() -> None:
    key = DataKey.new("v-1")
    token = key.seal("iban", IBAN)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(SealBroken):
        key.open("iban", flipped)
    with pytest.raises(SealBroken):
        key.open("iban", token[:-10])


@pytest.mark.parametrize(("vendor_id", "field"), [("v-2", "iban"), ("v-1", "account_number")])
def test_a_ciphertext_moved_to_another_vendor_or_field_fails(vendor_id: str,
                                                             field: str) -> None:
    key = DataKey.new("v-1")
    token = key.seal("iban", IBAN)
    moved = DataKey(vendor_id, key.version, key.key)
    with pytest.raises(SealBroken):
        moved.open(field, token)


def test_another_data_key_cannot_open_a_field() -> None:
    token = DataKey.new("v-1").seal("iban", IBAN)
    with pytest.raises(SealBroken):
        DataKey.new("v-1").open("iban", token)
    with pytest.raises(SealBroken):  # the key version is part of the token and the AAD
        DataKey.new("v-1", version=2).open("iban", token)


def test_a_wrapped_key_is_bound_to_its_vendor() -> None:
    keys = ring(1)
    data = DataKey.new("v-1")
    assert data.key is not None
    version, wrapped = keys.wrap("v-1", data.key)
    assert version == 1
    assert keys.unwrap("v-1", 1, wrapped) == data.key
    with pytest.raises(SealBroken):
        keys.unwrap("v-2", 1, wrapped)


def test_rotation_keeps_data_readable_through_both_kek_versions() -> None:
    data = DataKey.new("v-1")
    assert data.key is not None
    token = data.seal("iban", IBAN)
    _, old_wrap = ring(1).wrap("v-1", data.key)
    during = ring(1, 2)  # every process holds both while the rotation runs
    assert during.current == 2
    assert during.unwrap("v-1", 1, old_wrap) == data.key
    version, new_wrap = during.wrap("v-1", during.unwrap("v-1", 1, old_wrap))
    after = ring(2)  # the old KEK retired
    key = DataKey("v-1", data.version, after.unwrap("v-1", version, new_wrap))
    assert key.open("iban", token) == IBAN
    with pytest.raises(KeyUnavailable):
        after.unwrap("v-1", 1, old_wrap)


def test_a_shredded_key_reads_as_erased_and_seals_nothing() -> None:
    token = DataKey.new("v-1").seal("iban", IBAN)
    shredded = DataKey("v-1", 1, None)
    assert shredded.open("iban", token) == ERASED
    with pytest.raises(SealBroken):
        shredded.seal("iban", IBAN)


def test_blind_indexes_match_spellings_of_one_value_only() -> None:
    keys = ring(1)
    index = keys.blind_index("iban_index", IBAN)
    assert index == keys.blind_index("iban_index", "de89 3704 0044 0532 0130 00")
    assert index != keys.blind_index("iban_index", "DE44500105175407324931")
    assert index != keys.blind_index("tax_id_index", IBAN)  # per field
    assert keys.blind_index("iban_index", "  ") is None
    assert IBAN not in (index or "")


def test_blind_indexes_under_every_kek_version_cover_a_rotation() -> None:
    both = ring(1, 2)
    assert both.blind_indexes("iban_index", IBAN) == [
        ring(2).blind_index("iban_index", IBAN), ring(1).blind_index("iban_index", IBAN)]


def test_outside_development_a_kek_is_required() -> None:
    with pytest.raises(ConfigurationError, match="FINBOT_KEK"):
        keyring_from(kek=None, kek_file=None, previous=None, environment="production")
    development = keyring_from(kek=None, kek_file=None, previous=None,
                               environment="development")
    assert development.current == DEVELOPMENT_VERSION


def test_kek_entries_come_from_the_environment_a_file_and_previous_ones(
        tmp_path: Path) -> None:
    secret = tmp_path / "kek"
    secret.write_text(f"{new_kek_text(3)}\n")
    keys = keyring_from(kek=None, kek_file=secret, previous=new_kek_text(2),
                        environment="production")
    assert keys.current == 3
    assert keys.versions == [3, 2]
    bare = base64.b64encode(KEK1).decode()
    assert keyring_from(kek=bare, kek_file=None, previous=None,
                        environment="production").versions == [1]
    assert keyring_from(kek=f"7:{KEK1.hex()}", kek_file=None, previous=None,
                        environment="test").versions == [7, DEVELOPMENT_VERSION]


@pytest.mark.parametrize("entry", ["1:c2hvcnQ=", "x:" + base64.b64encode(KEK1).decode(),
                                   "not base64 at all!"])
def test_a_malformed_kek_is_refused(entry: str) -> None:
    with pytest.raises(ConfigurationError):
        keyring_from(kek=entry, kek_file=None, previous=None, environment="production")
