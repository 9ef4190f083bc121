"""Outbound webhooks: the signature a receiver checks, and the addresses FinBot refuses
to call (SSRF)."""

from __future__ import annotations

import pytest

from finbot.adapters.webhooks import check_target, signature, verify
from finbot.domain.errors import InvalidInput


def _resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


def test_a_signature_verifies_only_the_same_body_recently() -> None:
    body = b'{"tool": "send_mail"}'
    header = signature(b"s3cret", body, 1_000)
    assert verify(b"s3cret", body, header, now=1_100)
    assert not verify(b"s3cret", body + b" ", header, now=1_100)  # tampered
    assert not verify(b"other", body, header, now=1_100)  # another secret
    assert not verify(b"s3cret", body, header, now=1_000 + 301)  # replayed late
    assert not verify(b"s3cret", body, "t=x,v1=00", now=1_000)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1",
                                     "169.254.169.254", "::1", "fd00::1", "0.0.0.0",
                                     "100.64.0.1"])
def test_private_and_reserved_targets_are_refused(address: str) -> None:
    with pytest.raises(InvalidInput, match="private or reserved"):
        check_target("https://hooks.example/guard", resolve=_resolving_to(address))
    check_target("https://hooks.example/guard", allow_private=True,
                 resolve=_resolving_to(address))  # a lab may allow them


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(InvalidInput):
        check_target("https://hooks.example/", resolve=_resolving_to("93.184.216.34",
                                                                       "10.0.0.1"))
    check_target("https://hooks.example/", resolve=_resolving_to("93.184.216.34"))


@pytest.mark.parametrize("url", ["ftp://hooks.example/", "file:///etc/passwd", "hooks",
                                 "https://user:pw@hooks.example/"])
def test_only_plain_http_urls_are_called(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_target(url, resolve=_resolving_to("93.184.216.34"))


def test_an_unresolvable_host_is_refused() -> None:
    def fails(host: str, port: int) -> list[str]:
        raise OSError("no such host")
    with pytest.raises(InvalidInput, match="cannot resolve"):
        check_target("https://nowhere.example/", resolve=fails)
