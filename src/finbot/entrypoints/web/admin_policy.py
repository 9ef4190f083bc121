"""The staff policy editor: every version with who published it, the current document,
a line diff between any two versions, and (for admins) publishing a new version from
YAML. A document that is not YAML, or that the domain refuses, comes back with the error
and publishes nothing."""

from __future__ import annotations

import difflib
import json
from typing import Any

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from finbot.domain.errors import InvalidInput
from finbot.domain.users import Permission
from finbot.entrypoints.api.deps import Auth, ScopeDep, limited
from finbot.entrypoints.web.portal import Form_, page, redirect_with
from finbot.services.scope import Scope

router = APIRouter(include_in_schema=False)


@router.get("/admin/policy", dependencies=[Depends(limited("default"))])
def policy_page(request: Request, who: Auth, scope: ScopeDep, old: str = "", new: str = "",
                notice: str = "") -> HTMLResponse:
    return page(request, "admin_policy.html", who, notice=notice,
                **_policy_view(scope, old=old, new=new))


@router.post("/admin/policy", dependencies=[Depends(limited("default"))])
def publish_form(request: Request, who: Auth, scope: ScopeDep, document: Form_) -> Response:
    try:
        published = scope.publish_policy(_parsed(document))
    except InvalidInput as refused:
        answer = page(request, "admin_policy.html", who, error=refused.message,
                      draft=document, **_policy_view(scope))
        answer.status_code = 422
        return answer
    return redirect_with("/admin/policy", f"Policy {published.version} is in force")


def _policy_view(scope: Scope, *, old: str = "", new: str = "") -> dict[str, Any]:
    versions = scope.policy_versions()
    current, digest, document = scope.policy()
    old = old or (versions[1].version if len(versions) > 1 else current)
    new = new or current
    return {"versions": versions, "current": current, "digest": digest,
            "text": as_yaml(document), "old": old, "new": new,
            "diff": _diff(scope, old, new),
            "may_publish": scope.principal.can(Permission.POLICY_PUBLISH)}


def as_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=True, allow_unicode=True)


def _diff(scope: Scope, old: str, new: str) -> list[str]:
    """``old`` to ``new`` as unified diff lines of their YAML renderings."""
    before, after = (as_yaml(scope.policy(v)[2]).splitlines() for v in (old, new))
    return list(difflib.unified_diff(before, after, fromfile=old, tofile=new, lineterm=""))


def _parsed(text: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise InvalidInput(f"the document is not valid YAML{line}: "
                           f"{getattr(error, 'problem', None) or error}",
                           field="document") from None
    if not isinstance(document, dict):
        raise InvalidInput("a policy is a YAML mapping of settings", field="document")
    try:
        json.dumps(document, allow_nan=False)
    except (TypeError, ValueError):  # dates, timestamps, NaN: not what a policy holds
        raise InvalidInput("a policy holds only text, numbers, lists and mappings (quote "
                           "dates and times)", field="document") from None
    return document
