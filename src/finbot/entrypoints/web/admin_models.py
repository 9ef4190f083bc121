"""Staff pages over the models FinBot decides with: the fraud model's versions with their
held-out metrics and each version's card, the model and prompt each agent runs, and each
agent version's card."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from finbot.entrypoints.api.deps import Auth, ScopeDep, limited
from finbot.entrypoints.web.portal import page

router = APIRouter(include_in_schema=False)


@router.get("/admin/models", dependencies=[Depends(limited("default"))])
def models_page(request: Request, who: Auth, scope: ScopeDep) -> HTMLResponse:
    return page(request, "admin_models.html", who, fraud=scope.fraud_models(),
                agents=scope.agent_models(), cards=scope.agent_cards())


@router.get("/admin/models/agents/{key}", dependencies=[Depends(limited("default"))])
def agent_card(request: Request, key: str, who: Auth, scope: ScopeDep) -> HTMLResponse:
    """One agent version's card (``invoice-2``), kept with the model registry."""
    return page(request, "admin_agent_card.html", who, key=key, card=scope.agent_card(key))


@router.get("/admin/models/{model_version}", dependencies=[Depends(limited("default"))])
def model_card(request: Request, model_version: str, who: Auth, scope: ScopeDep) -> HTMLResponse:
    info, card = scope.fraud_model(model_version)
    return page(request, "admin_model.html", who, info=info, card=card)
