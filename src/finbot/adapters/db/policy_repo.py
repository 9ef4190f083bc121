"""Policy versions in SQL, newest last."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import policies

_LATEST = Sql("SELECT version, seq, body, digest FROM policies ORDER BY seq DESC LIMIT 1")


class SqlPolicyRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def latest(self) -> tuple[str, int, str, str] | None:
        """(version, seq, body, digest) of the newest policy."""
        row = _LATEST.first(self.conn)
        return (str(row[0]), int(row[1]), str(row[2]), str(row[3])) if row else None

    def get(self, version: str) -> tuple[str, int, str, str] | None:
        row = self.conn.execute(select(policies.c.version, policies.c.seq, policies.c.body,
                                       policies.c.digest)
                                .where(policies.c.version == version)).first()
        return (str(row[0]), int(row[1]), str(row[2]), str(row[3])) if row else None

    def add(self, version: str, seq: int, body: str, digest: str, now_us: int) -> None:
        self.conn.execute(insert(policies).values(version=version, seq=seq, body=body,
                                                  digest=digest, created_at=now_us))

    def versions(self) -> list[tuple[str, int, str, int]]:
        """(version, seq, digest, published at) of every version, newest first."""
        rows = self.conn.execute(select(policies.c.version, policies.c.seq, policies.c.digest,
                                        policies.c.created_at).order_by(policies.c.seq.desc()))
        return [(str(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in rows]
