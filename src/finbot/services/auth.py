"""Users, sign-in, server-side sessions and API tokens.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, re-hashed on the next
sign-in when the parameters change). A sign-in for an unknown address still verifies a
password against a dummy hash, so the answer takes as long and says the same thing
(``Unauthenticated``) as a wrong password: nobody learns which addresses exist.

A session is a random secret handed to the browser; the database keeps only its SHA-256
with the user, a CSRF token and an expiry, so signing in again (or elsewhere) never
reuses an identifier (rotation) and ending a session deletes it. An API token is shown
once, as ``fbt_<id>_<secret>``, and kept as the SHA-256 of the whole; it can expire and be
revoked. Every check answers a ``Principal`` built from the stored user (roles, tenant,
vendors), never from what the client sends.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from finbot.domain.clock import SECOND_US, now_us
from finbot.domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from finbot.domain.users import (
    Principal,
    Role,
    User,
    check_password,
    normal_email,
    roles_of,
)
from finbot.services.ledger import UowFactory

TOKEN_PREFIX = "fbt_"  # noqa: S105 - a prefix that marks tokens, not a secret
_REFUSED = "wrong email address or password"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: the secret for its cookie and the CSRF token for its forms."""

    secret: str
    csrf_token: str
    principal: Principal
    expires_at_us: int


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AuthService:
    """See the module docstring."""

    def __init__(self, uow: UowFactory, *, session_ttl_s: int = 12 * 3600,
                 hasher: PasswordHasher | None = None, clock: Callable[[], int] = now_us,
                 one_read: UowFactory | None = None) -> None:
        """``one_read``: units of work for a single read, run on every request to find
        the session's or token's user (see ``SqlUnitOfWork``); ``uow`` when not given."""
        self._uow = uow
        self._one_read = one_read or uow
        self._ttl_us = session_ttl_s * SECOND_US
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self._dummy = ""  # hashed on first use: bootstrapping stays cheap

    # -- users ------------------------------------------------------------------------

    def create_user(self, email: str, password: str, *, roles: Collection[str],
                    display_name: str = "", tenant: str = "default",
                    vendors: Collection[str] = ()) -> User:
        """Add a user; a vendor user names the vendors they act for (of their tenant), or
        none yet when they will onboard their first one."""
        address = normal_email(email)
        check_password(password, email=address)
        granted = roles_of(roles)
        if vendors and Role.VENDOR not in granted:
            raise InvalidInput("only vendor users belong to vendors", field="vendors")
        user = User(f"u-{uuid.uuid4().hex[:16]}", address,
                    display_name.strip()[:200] or address.split("@")[0], granted, tenant,
                    frozenset(vendors), created_at_us=self._clock())
        password_hash = self._hasher.hash(password)
        with self._uow() as uow:
            if uow.users.by_email(address) is not None:
                raise Conflict(f"a user with {address} exists", code="user_exists",
                               field="email")
            for vendor_id in user.vendors:
                vendor = uow.vendors.get(vendor_id)
                if vendor is None or vendor.tenant != tenant:
                    raise NotFound(f"no vendor {vendor_id!r} in tenant {tenant!r}",
                                   field="vendors")
            uow.users.add(user, password_hash)
            uow.commit()
        return user

    def users(self, *, tenant: str | None = None) -> list[User]:
        with self._uow() as uow:
            return uow.users.all(tenant=tenant)

    def set_disabled(self, email: str, disabled: bool) -> User:
        """Disable (or re-enable) a user; disabling ends every session of theirs."""
        with self._uow() as uow:
            found = uow.users.by_email(normal_email(email))
            if found is None:
                raise NotFound(f"no user {email!r}", field="email")
            user = replace(found[0], disabled=disabled)
            uow.users.set_disabled(user.user_id, disabled)
            if disabled:
                uow.users.end_sessions_of(user.user_id)
            uow.commit()
            return user

    # -- sessions ---------------------------------------------------------------------

    def sign_in(self, email: str, password: str, *, replacing: str | None = None) -> Session:
        """A new session for the right password; the session the browser held before
        (``replacing``) ends, so an identifier planted before sign-in is worthless."""
        try:
            address = normal_email(email)
        except InvalidInput:
            address = ""
        with self._uow() as uow:
            found = uow.users.by_email(address) if address else None
            user, stored = found if found else (None, self._dummy_hash())
            if not self._verified(stored, password) or user is None or user.disabled:
                raise Unauthenticated(_REFUSED)
            if self._hasher.check_needs_rehash(stored):
                uow.users.set_password_hash(user.user_id, self._hasher.hash(password))
            if replacing:
                uow.users.end_session(_digest(replacing))
            secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            now = self._clock()
            uow.users.add_session(_digest(secret), user.user_id, csrf, now_us=now,
                                  expires_us=now + self._ttl_us)
            uow.commit()
        return Session(secret, csrf, Principal.of(user, via="session"), now + self._ttl_us)

    def _dummy_hash(self) -> str:
        if not self._dummy:
            self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    def _verified(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def session(self, secret: str) -> Session:
        """The live session for a cookie's ``secret``, or Unauthenticated."""
        now = self._clock()
        with self._one_read() as uow:
            found = uow.users.session_user(_digest(secret)) if secret else None
        if found is None or found[2] <= now or found[0].disabled:
            raise Unauthenticated("not signed in, or the session has ended")
        user, csrf, expires = found
        return Session(secret, csrf, Principal.of(user, via="session"), expires)

    def sign_out(self, secret: str) -> None:
        with self._uow() as uow:
            uow.users.end_session(_digest(secret))
            uow.commit()

    def purge_sessions(self) -> int:
        """Delete expired sessions; how many."""
        with self._uow() as uow:
            purged = uow.users.purge_sessions(now_us=self._clock())
            uow.commit()
        return purged

    # -- API tokens -------------------------------------------------------------------

    def issue_token(self, email: str, name: str, *, ttl_days: int | None = 90) -> str:
        """A new API token for ``email``'s user, shown this once."""
        if not name.strip() or len(name) > 100:
            raise InvalidInput("a token's name is 1 to 100 characters", field="name")
        if ttl_days is not None and ttl_days <= 0:
            raise InvalidInput("a token lives at least one day", field="ttl_days")
        token_id = secrets.token_hex(8)
        token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        now = self._clock()
        with self._uow() as uow:
            found = uow.users.by_email(normal_email(email))
            if found is None:
                raise NotFound(f"no user {email!r}", field="email")
            uow.users.add_token(_digest(token), token_id, found[0].user_id, name.strip(),
                                now_us=now, expires_us=(now + ttl_days * 86_400 * SECOND_US
                                                        if ttl_days else None))
            uow.commit()
        return token

    def token_principal(self, token: str) -> Principal:
        """The principal an API token stands for, or Unauthenticated."""
        refused = Unauthenticated("unknown, expired or revoked API token")
        if not token.startswith(TOKEN_PREFIX):
            raise refused
        now = self._clock()
        with self._one_read() as uow:
            found = uow.users.token_user(_digest(token))
        if found is None:
            raise refused
        user, expires, revoked = found
        if revoked is not None or (expires is not None and expires <= now) or user.disabled:
            raise refused
        return Principal.of(user, via="token")

    def revoke_token(self, token_id: str) -> None:
        with self._uow() as uow:
            if not uow.users.revoke_token(token_id, now_us=self._clock()):
                raise NotFound(f"no live token {token_id!r}", field="token_id")
            uow.commit()
