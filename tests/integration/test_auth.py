"""Users, sign-in, sessions and API tokens against the real databases: argon2 hashes,
one refusal for every failed sign-in, rotation, expiry, sign-out, disabled users, tokens
shown once and stored hashed, and roles that grant exactly what the table says."""

from __future__ import annotations

import hashlib
import json

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from finbot.bootstrap import App
from finbot.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from finbot.domain.users import Permission, Role
from finbot.entrypoints.cli.app import cli
from finbot.services.auth import AuthService
from tests.workflow_kit import clean_vendor

PASSWORD = "correct horse battery staple"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(app: App, clock: Clock) -> AuthService:
    app.vendor_work.register_vendor(clean_vendor("v-acme"))
    app.vendor_work.register_vendor(clean_vendor("v-other", tenant="other"))
    return AuthService(app.uow, session_ttl_s=3600, hasher=FAST, clock=clock)


def test_a_user_signs_in_and_the_session_names_them_and_their_vendors(auth: AuthService,
                                                                      app: App) -> None:
    user = auth.create_user("Ann@Example.com ", PASSWORD, roles=["vendor"],
                            vendors=["v-acme"])
    assert (user.email, user.roles, user.vendors) == ("ann@example.com", {Role.VENDOR},
                                                      {"v-acme"})
    session = auth.sign_in("ann@example.com", PASSWORD)
    again = auth.session(session.secret)
    assert again.principal == session.principal
    assert again.csrf_token == session.csrf_token
    assert session.principal.vendors == {"v-acme"}
    assert session.principal.may_see_vendor("v-acme", "default")
    assert not session.principal.may_see_vendor("v-other", "default")
    with app.uow() as uow:  # stored as argon2id and the session by its digest only
        _, stored = uow.users.by_email("ann@example.com")  # type: ignore[misc]
        assert stored.startswith("$argon2id$")
        assert uow.users.session_user(session.secret) is None
        digest = hashlib.sha256(session.secret.encode()).hexdigest()
        assert uow.users.session_user(digest) is not None


@pytest.mark.parametrize(("email", "password"), [
    ("ann@example.com", "wrong password here"), ("nobody@example.com", PASSWORD),
    ("not an address", PASSWORD), ("", ""),
])
def test_every_failed_sign_in_gets_the_same_answer(auth: AuthService, email: str,
                                                   password: str) -> None:
    auth.create_user("ann@example.com", PASSWORD, roles=["reviewer"])
    with pytest.raises(Unauthenticated) as refused:
        auth.sign_in(email, password)
    assert refused.value.message == "wrong email address or password"


def test_signing_in_rotates_the_session_and_signing_out_ends_it(auth: AuthService) -> None:
    auth.create_user("ann@example.com", PASSWORD, roles=["reviewer"])
    first = auth.sign_in("ann@example.com", PASSWORD)
    second = auth.sign_in("ann@example.com", PASSWORD, replacing=first.secret)
    assert second.secret != first.secret
    assert second.csrf_token != first.csrf_token
    with pytest.raises(Unauthenticated):
        auth.session(first.secret)
    auth.sign_out(second.secret)
    with pytest.raises(Unauthenticated):
        auth.session(second.secret)
    with pytest.raises(Unauthenticated):
        auth.session("")


def test_a_session_expires_and_is_purged(auth: AuthService, clock: Clock) -> None:
    auth.create_user("ann@example.com", PASSWORD, roles=["auditor"])
    session = auth.sign_in("ann@example.com", PASSWORD)
    clock.now += 3599 * 1_000_000
    assert auth.session(session.secret).principal.roles == {Role.AUDITOR}
    clock.now += 1_000_000
    with pytest.raises(Unauthenticated):
        auth.session(session.secret)
    assert auth.purge_sessions() == 1


def test_a_disabled_user_loses_sessions_tokens_and_sign_in(auth: AuthService) -> None:
    auth.create_user("ann@example.com", PASSWORD, roles=["admin"])
    session = auth.sign_in("ann@example.com", PASSWORD)
    token = auth.issue_token("ann@example.com", "ci")
    auth.set_disabled("ann@example.com", True)
    with pytest.raises(Unauthenticated):
        auth.session(session.secret)
    with pytest.raises(Unauthenticated):
        auth.token_principal(token)
    with pytest.raises(Unauthenticated):
        auth.sign_in("ann@example.com", PASSWORD)
    auth.set_disabled("ann@example.com", False)
    assert auth.token_principal(token).roles == {Role.ADMIN}


def test_an_api_token_works_until_it_expires_or_is_revoked(auth: AuthService, app: App,
                                                           clock: Clock) -> None:
    user = auth.create_user("bot@example.com", PASSWORD, roles=["vendor"],
                            vendors=["v-acme"])
    token = auth.issue_token("bot@example.com", "erp sync", ttl_days=1)
    principal = auth.token_principal(token)
    assert (principal.user_id, principal.via) == (user.user_id, "token")
    for forged in (token[:-1] + ("x" if token[-1] != "x" else "y"), "fbt_", "Bearer x", ""):
        with pytest.raises(Unauthenticated):
            auth.token_principal(forged)
    with app.uow() as uow:
        [(token_id, name, *_)] = uow.users.tokens_of(user.user_id)
    assert (token_id, name) == (token.split("_")[1], "erp sync")
    clock.now += 86_400 * 1_000_000
    with pytest.raises(Unauthenticated):
        auth.token_principal(token)
    live = auth.issue_token("bot@example.com", "second", ttl_days=None)
    auth.revoke_token(live.split("_")[1])
    with pytest.raises(Unauthenticated):
        auth.token_principal(live)
    with pytest.raises(NotFound):
        auth.revoke_token(live.split("_")[1])


def test_bad_users_are_refused_with_the_field_to_fix(auth: AuthService) -> None:
    auth.create_user("ann@example.com", PASSWORD, roles=["reviewer"])
    cases = [
        (dict(email="ann@example.com", password=PASSWORD, roles=["auditor"]), Conflict,
         "email"),
        (dict(email="bob@example.com", password="short", roles=["auditor"]), InvalidInput,
         "password"),
        (dict(email="bob@example.com", password="bob@example.com", roles=["auditor"]),
         InvalidInput, "password"),
        (dict(email="bob@", password=PASSWORD, roles=["auditor"]), InvalidInput, "email"),
        (dict(email="bob@example.com", password=PASSWORD, roles=["root"]), InvalidInput,
         "roles"),
        (dict(email="bob@example.com", password=PASSWORD, roles=["vendor"],
              vendors=["v-other"]), NotFound, "vendors"),  # another tenant's vendor
        (dict(email="bob@example.com", password=PASSWORD, roles=["admin"],
              vendors=["v-acme"]), InvalidInput, "vendors"),
    ]
    for kwargs, error, field in cases:
        with pytest.raises(error) as raised:
            auth.create_user(**kwargs)  # type: ignore[arg-type]
        assert raised.value.field == field, kwargs


def test_a_stale_hash_is_upgraded_at_sign_in(auth: AuthService, app: App,
                                             clock: Clock) -> None:
    auth.create_user("ann@example.com", PASSWORD, roles=["reviewer"])
    stronger = AuthService(app.uow, hasher=PasswordHasher(time_cost=2, memory_cost=1024,
                                                          parallelism=1), clock=clock)
    stronger.sign_in("ann@example.com", PASSWORD)
    with app.uow() as uow:
        _, stored = uow.users.by_email("ann@example.com")  # type: ignore[misc]
    assert "t=2" in stored


def test_roles_grant_what_the_table_says_and_nothing_else(auth: AuthService) -> None:
    auth.create_user("rev@example.com", PASSWORD, roles=["reviewer"])
    auth.create_user("adm@example.com", PASSWORD, roles=["admin"])
    auth.create_user("aud@example.com", PASSWORD, roles=["auditor"])
    reviewer, admin, auditor = (auth.sign_in(f"{who}@example.com", PASSWORD).principal
                                for who in ("rev", "adm", "aud"))
    reviewer.require(Permission.REVIEW)
    admin.require(Permission.POLICY_PUBLISH)
    for principal, denied in ((admin, Permission.REVIEW), (auditor, Permission.REVIEW),
                              (auditor, Permission.POLICY_PUBLISH),
                              (reviewer, Permission.USERS_MANAGE)):
        with pytest.raises(Forbidden):
            principal.require(denied)
    assert admin.may_see_vendor("v-acme", "default")
    assert not admin.may_see_vendor("v-other", "other")  # another tenant


def test_the_cli_adds_lists_disables_and_issues_tokens(app: App, env: None) -> None:
    app.vendor_work.register_vendor(clean_vendor("v-acme"))
    added = runner.invoke(cli, ["users", "add", "ann@example.com", "--role", "vendor",
                                "--vendor", "v-acme", "--password-stdin"],
                          input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "added ann@example.com" in added.output
    weak = runner.invoke(cli, ["users", "add", "bob@example.com", "--role", "admin",
                               "--password-stdin"], input="short\n")
    assert weak.exit_code == 2
    assert "at least 12 characters" in weak.output
    listed = runner.invoke(cli, ["users", "list", "--json"])
    [row] = json.loads(listed.output)
    assert (row["email"], row["roles"], row["vendors"]) == ("ann@example.com", ["vendor"],
                                                            ["v-acme"])
    issued = runner.invoke(cli, ["users", "token", "ann@example.com", "--name", "erp"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip()
    assert app.auth.token_principal(token).vendors == {"v-acme"}
    assert runner.invoke(cli, ["users", "disable", "ann@example.com"]).exit_code == 0
    with pytest.raises(Unauthenticated):
        app.auth.token_principal(token)
    revoked = runner.invoke(cli, ["users", "revoke-token", token.split("_")[1]])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(cli, ["users", "revoke-token", token.split("_")[1]])
    assert again.exit_code == 2
    assert "no live token" in again.output
