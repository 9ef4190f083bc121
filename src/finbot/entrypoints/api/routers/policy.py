"""The policy the gate enforces: read any version, publish a new one (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel

from finbot.entrypoints.api.deps import ScopeDep, limited
from finbot.entrypoints.api.schemas import CONFLICT

router = APIRouter(prefix="/api/policy", tags=["policy"],
                   dependencies=[Depends(limited("default"))])


class PolicyPublic(BaseModel):
    version: str
    digest: str
    document: dict[str, Any]


@router.get("")
def current_policy(scope: ScopeDep) -> PolicyPublic:
    version, digest, document = scope.policy()
    return PolicyPublic(version=version, digest=digest, document=document)


@router.get("/{version}")
def policy_version(version: str, scope: ScopeDep) -> PolicyPublic:
    found, digest, document = scope.policy(version)
    return PolicyPublic(version=found, digest=digest, document=document)


@router.post("", status_code=201, responses=CONFLICT)
def publish_policy(scope: ScopeDep, document: dict[str, Any] = Body(
        description="The whole policy document, as in policy YAML")) -> PolicyPublic:
    """Check and publish a new version (the same content again changes nothing)."""
    policy = scope.publish_policy(document)
    version, digest, stored = scope.policy(policy.version)
    return PolicyPublic(version=version, digest=digest, document=stored)
