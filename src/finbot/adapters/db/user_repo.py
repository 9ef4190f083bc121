"""Users, sessions and API tokens in SQL. Vendor memberships live in ``vendor_members``
(the review queue reads them too: a reviewer never reviews a vendor they belong to)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import api_tokens, user_sessions, users, vendor_members
from finbot.domain.users import Role, User

_USER_FIELDS = ("user_id", "email", "display_name", "tenant", "roles", "disabled",
                "created_at")
_USER_COLUMNS = ", ".join(_USER_FIELDS)
_USER = Sql(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = :user_id")
_VENDORS = Sql("SELECT vendor_id FROM vendor_members WHERE user_id = :user_id")
_WITH_VENDORS = (", ".join(f"u.{c}" for c in _USER_FIELDS) + ", m.vendor_id FROM users u "
                 "LEFT JOIN vendor_members m ON m.user_id = u.user_id ")
_TOKEN_USER = Sql(f"SELECT t.expires_at, t.revoked_at, {_WITH_VENDORS}"
                  "JOIN api_tokens t ON t.user_id = u.user_id WHERE t.token_hash = :token_hash")
_SESSION_USER = Sql(f"SELECT s.csrf_token, s.expires_at, {_WITH_VENDORS}"
                    "JOIN user_sessions s ON s.user_id = u.user_id "
                    "WHERE s.session_hash = :session_hash")


class SqlUserRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def add(self, user: User, password_hash: str) -> None:
        self.conn.execute(insert(users).values(
            user_id=user.user_id, email=user.email, display_name=user.display_name,
            tenant=user.tenant, roles=json.dumps(sorted(r.value for r in user.roles)),
            password_hash=password_hash, disabled=int(user.disabled),
            created_at=user.created_at_us))
        for vendor_id in sorted(user.vendors):
            self.conn.execute(insert(vendor_members).values(
                user_id=user.user_id, vendor_id=vendor_id, created_at=user.created_at_us))

    def get(self, user_id: str) -> User | None:
        row = _USER.first(self.conn, user_id=user_id)
        return self._user(row) if row else None

    def by_email(self, email: str) -> tuple[User, str] | None:
        """The user with ``email`` and their password hash."""
        row = self.conn.execute(select(users).where(users.c.email == email)).mappings().first()
        if row is None:
            return None
        return self._user(tuple(row[c] for c in _USER_FIELDS)), row["password_hash"]

    def all(self, *, tenant: str | None = None, limit: int = 1000) -> list[User]:
        query = select(*(users.c[c] for c in _USER_FIELDS)).order_by(
            users.c.email).limit(limit)
        if tenant is not None:
            query = query.where(users.c.tenant == tenant)
        return [self._user(tuple(row)) for row in self.conn.execute(query)]

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self.conn.execute(update(users).where(users.c.user_id == user_id)
                          .values(password_hash=password_hash))

    def set_disabled(self, user_id: str, disabled: bool) -> None:
        self.conn.execute(update(users).where(users.c.user_id == user_id)
                          .values(disabled=int(disabled)))

    def _user(self, row: Any, vendors: frozenset[str] | None = None) -> User:
        user_id, email, name, tenant, roles, disabled, created_at = row
        if vendors is None:
            vendors = frozenset(str(v) for (v,) in _VENDORS.rows(self.conn, user_id=user_id))
        return User(user_id, email, name, frozenset(Role(r) for r in json.loads(roles)),
                    tenant, vendors, bool(disabled), int(created_at))

    def _joined(self, statement: Sql, **key: str) -> tuple[Any, Any, User] | None:
        """The two leading columns of ``statement`` and the user, with their vendors, that
        one row per membership describes: one round trip on every request."""
        rows = statement.run(self.conn, **key).all()
        if not rows:
            return None
        vendors = frozenset(str(row[-1]) for row in rows if row[-1] is not None)
        first = rows[0]
        return first[0], first[1], self._user(tuple(first[2:-1]), vendors)

    # -- sessions ---------------------------------------------------------------------

    def add_session(self, session_hash: str, user_id: str, csrf_token: str, *,
                    now_us: int, expires_us: int) -> None:
        self.conn.execute(insert(user_sessions).values(
            session_hash=session_hash, user_id=user_id, csrf_token=csrf_token,
            created_at=now_us, expires_at=expires_us))

    def session_user(self, session_hash: str) -> tuple[User, str, int] | None:
        """The session's user (with their vendors), CSRF token and expiry, in one query."""
        found = self._joined(_SESSION_USER, session_hash=session_hash)
        return (found[2], str(found[0]), int(found[1])) if found else None

    def end_session(self, session_hash: str) -> None:
        self.conn.execute(delete(user_sessions)
                          .where(user_sessions.c.session_hash == session_hash))

    def end_sessions_of(self, user_id: str) -> None:
        self.conn.execute(delete(user_sessions).where(user_sessions.c.user_id == user_id))

    def purge_sessions(self, *, now_us: int) -> int:
        return int(self.conn.execute(delete(user_sessions)
                                     .where(user_sessions.c.expires_at <= now_us)).rowcount)

    # -- API tokens -------------------------------------------------------------------

    def add_token(self, token_hash: str, token_id: str, user_id: str, name: str, *,
                  now_us: int, expires_us: int | None) -> None:
        self.conn.execute(insert(api_tokens).values(
            token_hash=token_hash, token_id=token_id, user_id=user_id, name=name,
            created_at=now_us, expires_at=expires_us))

    def token_user(self, token_hash: str) -> tuple[User, int | None, int | None] | None:
        """The token's user (with their vendors), expiry and revocation, in one query."""
        found = self._joined(_TOKEN_USER, token_hash=token_hash)
        if found is None:
            return None
        expires, revoked, user = found
        return user, (int(expires) if expires is not None else None), (
            int(revoked) if revoked is not None else None)

    def revoke_token(self, token_id: str, *, now_us: int) -> bool:
        result = self.conn.execute(update(api_tokens).where(
            api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now_us))
        return bool(result.rowcount)

    def tokens_of(self, user_id: str) -> list[tuple[str, str, int, int | None, int | None]]:
        """(token id, name, created, expires, revoked) of each of the user's tokens."""
        rows = self.conn.execute(select(
            api_tokens.c.token_id, api_tokens.c.name, api_tokens.c.created_at,
            api_tokens.c.expires_at, api_tokens.c.revoked_at).where(
            api_tokens.c.user_id == user_id).order_by(api_tokens.c.created_at))
        return [(str(a), str(b), int(c), d, e) for a, b, c, d, e in rows]
