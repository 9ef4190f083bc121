"""Payments as vendors follow them: their approved, scheduled and paid invoices, with the
date each should be paid by or when it was."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from finbot.entrypoints.api.deps import ScopeDep, limited
from finbot.entrypoints.api.schemas import PaymentPublic

router = APIRouter(prefix="/api/payments", tags=["payments"],
                   dependencies=[Depends(limited("default"))])


@router.get("")
def list_payments(scope: ScopeDep, limit: Annotated[int, Query(ge=1, le=200)] = 100
                  ) -> list[PaymentPublic]:
    """The caller's invoices on their way to payment or paid, latest change first."""
    return [PaymentPublic.of(line) for line in scope.payments(limit=limit)]
