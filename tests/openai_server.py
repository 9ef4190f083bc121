"""A real HTTP server on loopback that speaks the OpenAI chat-completions protocol.

Tests script what it answers (a completion, a tool call, an SSE stream, an HTTP error, a
slow reply) and read back exactly what the provider sent; the provider talks to it over a
socket through the official SDK, as it would to Ollama or vLLM.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    body: dict[str, Any] | None = None
    status: int = 200
    delay_s: float = 0.0
    stream: list[dict[str, Any]] | None = None
    raw: bytes | None = None


@dataclass
class Script:
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, request: dict[str, Any]) -> Reply:
        with self.lock:
            self.requests.append(request)
            return self.replies.pop(0) if self.replies else Reply(status=500, body={
                "error": {"message": "the test scripted no more replies"}})


def completion(content: str | None = None, *, tool_calls: Sequence[tuple[str, str, str]] = (),
               model: str = "tiny-1b", usage: tuple[int, int] = (11, 7)) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [{"id": i, "type": "function",
                                  "function": {"name": n, "arguments": a}}
                                 for i, n, a in tool_calls]
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if tool_calls else "stop"}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                      "total_tokens": sum(usage)}}


def chunk(delta: dict[str, Any], *, finish: str | None = None,
          usage: tuple[int, int] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                            "created": 1, "model": "tiny-1b",
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        data["choices"] = []
        data["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                         "total_tokens": sum(usage)}
    return data


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return None

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            request = json.loads(self.rfile.read(length) or b"{}")
            request["_path"] = self.path
            request["_authorization"] = self.headers.get("authorization", "")
            reply = script.next(request)
            time.sleep(reply.delay_s)
            try:
                self._answer(reply)
            except (BrokenPipeError, ConnectionResetError):
                return

        def _answer(self, reply: Reply) -> None:
            if reply.stream is not None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for event in reply.stream:
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                return
            body = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def openai_server() -> Iterator[tuple[str, Script]]:
    """A running server; yields its base URL (``http://127.0.0.1:PORT/v1``) and script."""
    script = Script()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    finally:
        server.shutdown()
        server.server_close()
