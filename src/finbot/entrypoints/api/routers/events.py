"""The live event socket's ticket: a short-lived token bound to the caller's tenant (and,
for a vendor user, to their vendors)."""

from __future__ import annotations

from fastapi import APIRouter

from finbot.domain.users import Permission
from finbot.entrypoints.api.deps import Auth, WebDep
from finbot.entrypoints.web.push import TOKEN_TTL_S, issue_token

router = APIRouter(prefix="/api/events", tags=["events"])


@router.get("/token")
def push_token(who: Auth, web: WebDep) -> dict[str, object]:
    """A token for ``/ws/events?token=…``, valid for a few minutes."""
    vendors = None if who.can(Permission.ALL_VENDORS) else who.vendors
    return {"token": issue_token(web.app, who.tenant, vendors=vendors,
                                 arena=who.can(Permission.ARENA_PLAY)),
            "expires_in_s": TOKEN_TTL_S}
