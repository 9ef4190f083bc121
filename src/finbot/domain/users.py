"""People and machines that use FinBot, what each role may do, and who is asking now.

A user holds one or more roles within one tenant; a vendor user also belongs to one or
more vendors and sees only theirs. What a role may do is the table ``GRANTS``, one place
for every route and command to ask (``Principal.require``), so a new route cannot forget
to decide. A ``Principal`` is the user behind one request: from a session (a browser) or
an API token (a machine client), never from anything the request body says.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum

from finbot.domain.errors import Forbidden, InvalidInput


class Role(StrEnum):
    VENDOR = "vendor"
    """Works for one or more vendors: onboarding, invoices, payments, messages of those."""
    REVIEWER = "reviewer"
    """Decides escalations in the review queue (never for a vendor they belong to)."""
    ADMIN = "admin"
    """Runs the platform: users, policy, breakers, every vendor of the tenant."""
    AUDITOR = "auditor"
    """Reads the decision log, reviews and ledger; changes nothing."""
    PLAYER = "player"
    """Plays the red-team arena in a sandbox of their own."""


class Permission(StrEnum):
    OWN_VENDORS = "own_vendors"
    """Read and act for the vendors the user belongs to (submit invoices, chat)."""
    ALL_VENDORS = "all_vendors"
    """Read every vendor of the tenant, with its invoices, payments and messages."""
    DECISIONS_READ = "decisions_read"
    """Read decisions, their trail and the audit chain."""
    REVIEW = "review"
    """Approve or reject escalated decisions."""
    LEDGER_READ = "ledger_read"
    POLICY_READ = "policy_read"
    POLICY_PUBLISH = "policy_publish"
    BREAKERS_MANAGE = "breakers_manage"
    USERS_MANAGE = "users_manage"
    ARENA_PLAY = "arena_play"
    VENDORS_ERASE = "vendors_erase"
    """Erase a vendor's personal data (crypto-shredding its data key)."""


P = Permission
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VENDOR: frozenset({P.OWN_VENDORS}),
    Role.REVIEWER: frozenset({P.ALL_VENDORS, P.DECISIONS_READ, P.REVIEW, P.LEDGER_READ,
                              P.POLICY_READ}),
    Role.ADMIN: frozenset({P.ALL_VENDORS, P.DECISIONS_READ, P.LEDGER_READ, P.POLICY_READ,
                           P.POLICY_PUBLISH, P.BREAKERS_MANAGE, P.USERS_MANAGE,
                           P.VENDORS_ERASE}),
    Role.AUDITOR: frozenset({P.ALL_VENDORS, P.DECISIONS_READ, P.LEDGER_READ, P.POLICY_READ}),
    Role.PLAYER: frozenset({P.ARENA_PLAY}),
}
"""What each role may do. An admin does not review: the review queue's four eyes belong
to reviewers, so whoever runs the platform cannot also approve its payments."""

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024


def normal_email(email: str) -> str:
    """``email`` trimmed and lower-cased, or InvalidInput when it is not an address."""
    address = email.strip().lower()
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidInput(f"{email!r} is not an email address", field="email")
    return address


def check_password(password: str, *, email: str) -> None:
    """Refuse a password that is short, absurdly long, or the address itself."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD_CHARS} characters",
                           code="weak_password", field="password")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_CHARS} characters",
                           field="password")
    if password.strip().lower() in {email, email.split("@")[0]}:
        raise InvalidInput("a password may not be the email address",
                           code="weak_password", field="password")


def roles_of(names: Collection[str]) -> frozenset[Role]:
    """The roles named, or InvalidInput naming the unknown ones."""
    known = {role.value for role in Role}
    unknown = sorted(set(names) - known)
    if unknown or not names:
        raise InvalidInput(f"roles are {', '.join(sorted(known))}; got "
                           f"{', '.join(unknown) or 'none'}", field="roles")
    return frozenset(Role(name) for name in names)


@dataclass(frozen=True)
class User:
    """A user as stored (never with the password or its hash)."""

    user_id: str
    email: str
    display_name: str
    roles: frozenset[Role]
    tenant: str = "default"
    vendors: frozenset[str] = frozenset()
    disabled: bool = False
    created_at_us: int = 0


@dataclass(frozen=True)
class Principal:
    """Who is asking, for one request: a user and how they proved it."""

    user_id: str
    tenant: str
    roles: frozenset[Role]
    vendors: frozenset[str] = frozenset()
    via: str = "session"
    permissions: frozenset[Permission] = field(init=False)

    def __post_init__(self) -> None:
        granted = frozenset().union(*(GRANTS[role] for role in self.roles))
        object.__setattr__(self, "permissions", granted)

    @classmethod
    def of(cls, user: User, *, via: str) -> Principal:
        """The user as they act: an arena player (and nothing else) acts inside their own
        sandbox, its tenant, as a vendor user of its vendors (their memberships), so every
        route and page works for them there and nowhere else."""
        if user.roles == {Role.PLAYER}:
            return cls(user.user_id, sandbox_tenant(user.user_id),
                       frozenset({Role.PLAYER, Role.VENDOR}), user.vendors, via)
        return cls(user.user_id, user.tenant, user.roles, user.vendors, via)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise Forbidden unless this principal holds ``permission``."""
        if permission not in self.permissions:
            raise Forbidden(f"this needs the {permission.value} permission", field="role")

    def may_see_vendor(self, vendor_id: str, vendor_tenant: str) -> bool:
        """Whether this principal may read ``vendor_id`` (of ``vendor_tenant``)."""
        if vendor_tenant != self.tenant:
            return False
        return self.can(P.ALL_VENDORS) or (self.can(P.OWN_VENDORS)
                                           and vendor_id in self.vendors)


SANDBOX_PREFIX = "arena:"


def sandbox_player(tenant: str) -> str | None:
    """The player whose sandbox ``tenant`` is, or None for any other tenant."""
    return tenant.removeprefix(SANDBOX_PREFIX) if tenant.startswith(SANDBOX_PREFIX) else None


def sandbox_tenant(user_id: str) -> str:
    """The tenant of an arena player's sandbox: their own vendors, invoices, ledger
    accounts, tools and findings, apart from every other tenant's."""
    return f"{SANDBOX_PREFIX}{user_id}"
