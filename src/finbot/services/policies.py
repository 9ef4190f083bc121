"""Publishing and reading versioned policies: a change is always a new version."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from finbot.domain.audit import AuditRecord, canonical_json
from finbot.domain.clock import now_us
from finbot.domain.errors import NotFound
from finbot.domain.policy import Policy, policy_from_json, policy_from_mapping
from finbot.services.audit import AuditLog
from finbot.services.ledger import UowFactory
from finbot.services.retry import retrying


@dataclass(frozen=True)
class PolicyVersion:
    """One published version as listed: who published it (None before that was kept)."""

    version: str
    digest: str
    published_at_us: int
    published_by: str | None


class PolicyStore:
    """The policy versions; every published version is also recorded in the audit chain."""

    def __init__(self, uow: UowFactory, audit: AuditLog, *,
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._audit = audit
        self._clock = clock

    def publish(self, data: Mapping[str, Any], *, by: str | None = None) -> Policy:
        """Check ``data`` and store it as the next version; the same content is a no-op.
        ``by`` (who published) is kept in the version's audit record."""
        candidate = policy_from_mapping("candidate", data)
        return retrying(lambda: self._publish(data, candidate.digest, by))

    def _publish(self, data: Mapping[str, Any], digest: str, by: str | None) -> Policy:
        with self._uow() as uow:
            latest = uow.policies.latest()
            if latest is not None and latest[3] == digest:
                return policy_from_json(latest[0], latest[2])
            seq = (latest[1] if latest else 0) + 1
            version = f"v{seq}"
            uow.policies.add(version, seq, canonical_json(dict(data)), digest, self._clock())
            self._audit.append_in(uow, "policy", f"policy:{version}", {
                "version": version, "digest": digest, "policy": dict(data),
                **({"published_by": by} if by else {})})
            uow.commit()
        return policy_from_mapping(version, data)

    def current(self) -> Policy:
        with self._uow() as uow:
            latest = uow.policies.latest()
        if latest is None:
            raise NotFound("no policy has been published; run `finbot policy publish FILE`",
                           field="policy")
        return policy_from_json(latest[0], latest[2])

    def document(self, version: str | None = None) -> tuple[str, str, dict[str, Any]]:
        """(version, digest, the document as published): ``version``'s or the current."""
        with self._uow() as uow:
            found = uow.policies.latest() if version is None else uow.policies.get(version)
        if found is None:
            raise NotFound(f"no policy version {version!r}" if version else
                           "no policy has been published", field="version")
        return found[0], found[3], dict(json.loads(found[2]))

    def versions(self) -> list[PolicyVersion]:
        """Every published version, newest first, with who published it when recorded."""
        with self._uow() as uow:
            rows = uow.policies.versions()
            records = {version: uow.audit.by_id(f"policy:{version}")
                       for version, *_ in rows}
        return [PolicyVersion(version, digest, at_us, _publisher(records[version]))
                for version, _, digest, at_us in rows]

    def get(self, version: str) -> Policy:
        with self._uow() as uow:
            found = uow.policies.get(version)
        if found is None:
            raise NotFound(f"no policy version {version!r}", field="version")
        return policy_from_json(found[0], found[2])


def _publisher(record: AuditRecord | None) -> str | None:
    by = record.data.get("published_by") if record is not None else None
    return by if isinstance(by, str) else None
