"""Ledger views: accounts with balances (now or at a past moment) and transfers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from finbot.entrypoints.api.deps import ScopeDep, limited
from finbot.entrypoints.api.schemas import AccountPublic, Page, TransferPublic

router = APIRouter(prefix="/api/ledger", tags=["ledger"],
                   dependencies=[Depends(limited("default"))])


@router.get("/accounts")
def list_accounts(scope: ScopeDep) -> list[AccountPublic]:
    """The accounts the caller may see."""
    return [AccountPublic.of(a) for a in scope.accounts()]


@router.get("/accounts/{code}")
def get_account(code: str, scope: ScopeDep) -> AccountPublic:
    return AccountPublic.of(scope.account(code))


@router.get("/transfers")
def list_transfers(scope: ScopeDep, account: str | None = None,
                   cursor: Annotated[int, Query(ge=0, description="The last seq seen")] = 0,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Page[TransferPublic]:
    """Transfers in ledger order after ``cursor``: one account's, or all of them."""
    page = scope.transfers(account=account, after_seq=cursor, limit=limit)
    return Page(items=[TransferPublic.of(t) for t in page],
                next_cursor=str(page[-1].seq) if len(page) == limit else None)
