"""Uploaded documents: refused unless small enough and truly a PDF, plain text or an
image (judged by their first bytes, not by the name or the declared type), and their text
extracted so the agents can read it (as untrusted content, like everything a vendor
sends).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pypdf import PdfReader

from finbot.domain.errors import InvalidInput

Kind = Literal["pdf", "text", "image"]
MAX_TEXT_CHARS = 20_000
_IMAGES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
_MAX_PAGES = 50


@dataclass(frozen=True)
class Document:
    """An accepted upload: its name, kind, size and the text found in it."""

    name: str
    kind: Kind
    size: int
    text: str


def read_document(name: str, data: bytes, *, max_bytes: int) -> Document:
    """Check an upload and extract its text; InvalidInput (field ``document``) if refused."""
    safe_name = "".join(c for c in name.rsplit("/", 1)[-1] if c.isprintable())[:120] or "file"
    if not data:
        raise InvalidInput("the document is empty", field="document")
    if len(data) > max_bytes:
        raise InvalidInput(f"a document is at most {max_bytes // 1024} KiB", code="too_large",
                           field="document")
    kind = _kind(data)
    readers: dict[Kind, Callable[[bytes], str]] = {
        "pdf": _pdf_text, "text": _plain_text, "image": _no_text}
    text = readers[kind](data)
    return Document(safe_name, kind, len(data), text[:MAX_TEXT_CHARS])


def _kind(data: bytes) -> Kind:
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(_IMAGES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return "image"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("documents are PDF, plain text (UTF-8) or PNG, JPEG, GIF or WebP "
                           "images", code="unsupported_document", field="document") from None
    if b"\x00" in data:
        raise InvalidInput("a text document holds no NUL bytes", code="unsupported_document",
                           field="document")
    return "text"


def _no_text(_: bytes) -> str:
    return ""  # no OCR here: an image is kept, its words are not read


def _plain_text(data: bytes) -> str:
    return data.decode("utf-8")


def _pdf_text(data: bytes) -> str:
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = reader.pages[:_MAX_PAGES]
        return "\n".join((page.extract_text() or "") for page in pages).strip()
    except Exception as broken:  # a malformed PDF can fail pypdf in many ways
        raise InvalidInput(f"the PDF cannot be read: {broken}", code="unsupported_document",
                           field="document") from None


def with_text_of(text: str, documents: Iterable[Document]) -> str:
    """``text`` with each document's extracted text appended under a header naming it
    (what the agents read, as untrusted vendor content)."""
    for document in documents:
        if document.text:
            text = f"{text}\n\n[attached {document.kind} {document.name}]\n{document.text}"
    return text.strip()
