"""Staff pages over the ledger: accounts with their balances, one account's transfers and
its posted balance at any past instant, and every transfer in commit order."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from finbot.domain.clock import now_us
from finbot.domain.ledger import Account, Transfer
from finbot.entrypoints.api.deps import Auth, ScopeDep, limited
from finbot.entrypoints.web.formats import field_value, instant_us
from finbot.entrypoints.web.portal import page

router = APIRouter(include_in_schema=False)
PAGE = 50


@router.get("/admin/ledger", dependencies=[Depends(limited("default"))])
def accounts_page(request: Request, who: Auth, scope: ScopeDep) -> HTMLResponse:
    return page(request, "admin_ledger.html", who, accounts=scope.ledger_accounts())


@router.get("/admin/ledger/accounts/{code}", dependencies=[Depends(limited("default"))])
def account_page(request: Request, code: str, who: Auth, scope: ScopeDep, at: str = "",
                 after: int = 0) -> HTMLResponse:
    at_us = instant_us(at, field="at") if at else None
    account, balance_at = scope.ledger_account(code, at_us=at_us)
    transfers = scope.transfers(account=code, after_seq=after, limit=PAGE)
    return page(request, "admin_account.html", who, account=account, at=at,
                balance_at=balance_at, transfers=transfers, more=_more(transfers),
                names=_names(scope.ledger_accounts()), now=field_value(now_us()))


@router.get("/admin/ledger/transfers", dependencies=[Depends(limited("default"))])
def transfers_page(request: Request, who: Auth, scope: ScopeDep,
                   after: int = 0) -> HTMLResponse:
    transfers = scope.transfers(after_seq=after, limit=PAGE)
    return page(request, "admin_transfers.html", who, transfers=transfers,
                more=_more(transfers), names=_names(scope.ledger_accounts()))


def _names(accounts: list[Account]) -> dict[int, str]:
    """The codes of the accounts the caller sees, by id (another leg shows as unnamed)."""
    return {account.id: account.code for account in accounts}


def _more(transfers: list[Transfer]) -> int | None:
    return transfers[-1].seq if len(transfers) == PAGE else None
