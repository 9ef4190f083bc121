"""Record and replay model exchanges, so a past decision re-runs exactly, offline.

Two levels. A *cassette* records the HTTP bodies a provider exchanged, byte for byte, and
replays them through the same SDK and parsing code with no network: tests run real
recorded conversations. An *exchange log* records each model request and response as
FinBot's own values; ``ReplayModel`` answers a re-run from it and stops, naming the turn,
the moment the re-run asks something the original did not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from finbot.domain.audit import canonical_json
from finbot.domain.errors import ModelError
from finbot.llm.messages import ModelRequest, ModelResponse
from finbot.llm.model import Model


class ReplayDiverged(ModelError):
    """Raised when a replay asks the model something the recording does not hold."""

    code = "replay_diverged"


class Cassette:
    """A JSON-lines file of HTTP exchanges; the API key and other headers are never kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        if path.exists():
            with path.open(encoding="utf-8") as lines:
                self.entries = [json.loads(line) for line in lines if line.strip()]

    def add(self, request: httpx2.Request, status: int, content_type: str,
            body: bytes) -> None:
        entry = {"method": request.method, "path": request.url.path,
                 "request_sha256": hashlib.sha256(request.content).hexdigest(),
                 "request": request.content.decode("utf-8", "replace"), "status": status,
                 "content_type": content_type,
                 "body_base64": base64.b64encode(body).decode("ascii")}
        self.entries.append(entry)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())


class RecordingTransport(httpx2.BaseTransport):
    """Passes requests to the network and writes each exchange to the cassette."""

    def __init__(self, cassette: Cassette, inner: httpx2.BaseTransport | None = None) -> None:
        self._cassette = cassette
        self._inner = inner or httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        body = response.read()
        content_type = response.headers.get("content-type", "application/json")
        self._cassette.add(request, response.status_code, content_type, body)
        return httpx2.Response(response.status_code, headers={"content-type": content_type},
                               content=body)


class ReplayTransport(httpx2.BaseTransport):
    """Answers each request with the recorded body of the same request, in order."""

    def __init__(self, cassette: Cassette) -> None:
        self._unused = list(cassette.entries)
        self._path = cassette.path

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        digest = hashlib.sha256(request.content).hexdigest()
        for index, entry in enumerate(self._unused):
            if (entry["method"], entry["path"], entry["request_sha256"]) == (
                    request.method, request.url.path, digest):
                del self._unused[index]
                return httpx2.Response(
                    entry["status"], headers={"content-type": entry["content_type"]},
                    content=base64.b64decode(entry["body_base64"]))
        raise ReplayDiverged(f"{self._path} holds no recorded answer to this {request.method} "
                             f"{request.url.path} (the request differs from the recording"
                             f"{self._where(request)})")

    @property
    def exhausted(self) -> bool:
        """Whether every recorded exchange has been replayed."""
        return not self._unused

    def _where(self, request: httpx2.Request) -> str:
        """Where the request first differs from the next unused recording of its route."""
        same_route = [e for e in self._unused
                      if (e["method"], e["path"]) == (request.method, request.url.path)]
        if not same_route:
            return "; nothing recorded for it is left"
        try:
            asked, recorded = json.loads(request.content), json.loads(same_route[0]["request"])
        except ValueError:
            return ""
        return f"; first at {first_difference(recorded, asked)}"


@dataclass(frozen=True)
class Exchange:
    """One model call as FinBot saw it."""

    model_name: str
    request: Mapping[str, Any]
    response: Mapping[str, Any]
    latency_us: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "request": dict(self.request),
                "response": dict(self.response), "latency_us": self.latency_us}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Exchange:
        return cls(data["model_name"], data["request"], data["response"],
                   int(data.get("latency_us", 0)))


class ReplayModel(Model):
    """Answers from recorded exchanges, in order, refusing any request that differs."""

    def __init__(self, exchanges: Sequence[Exchange]) -> None:
        self._exchanges = list(exchanges)
        self._next = 0
        self.name = exchanges[0].model_name if exchanges else "replay:empty"

    def request(self, request: ModelRequest) -> ModelResponse:
        turn = self._next
        if turn >= len(self._exchanges):
            raise ReplayDiverged(f"the re-run made a model call #{turn + 1} the recording "
                                 f"does not have (it holds {len(self._exchanges)})")
        recorded = self._exchanges[turn]
        asked = request.to_json()
        if canonical_json(asked) != canonical_json(recorded.request):
            raise ReplayDiverged(f"model call #{turn + 1} differs from the recording at "
                                 f"{first_difference(recorded.request, asked)}")
        self._next += 1
        return ModelResponse.from_json(recorded.response)

    @property
    def exhausted(self) -> bool:
        """Whether the re-run used every recorded exchange."""
        return self._next == len(self._exchanges)


def first_difference(recorded: Any, asked: Any, path: str = "request") -> str:
    """Where two JSON values first differ, as a path such as ``request.messages[2].content``."""
    if isinstance(recorded, Mapping) and isinstance(asked, Mapping):
        for key in sorted(set(recorded) | set(asked)):
            if recorded.get(key) != asked.get(key):
                return first_difference(recorded.get(key), asked.get(key), f"{path}.{key}")
    elif isinstance(recorded, list) and isinstance(asked, list):
        for index, (old, new) in enumerate(zip(recorded, asked, strict=False)):
            if old != new:
                return first_difference(old, new, f"{path}[{index}]")
        if len(recorded) != len(asked):
            return f"{path} (length {len(recorded)} recorded, {len(asked)} now)"
    return path

