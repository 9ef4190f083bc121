"""Uploads are judged by their bytes, not their names: PDF, UTF-8 text and images pass
(with their text extracted), anything else, an empty file or one too large is refused
with the field to fix."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from finbot.adapters.documents import MAX_TEXT_CHARS, read_document
from finbot.domain.errors import InvalidInput

LIMIT = 64 * 1024


def pdf_saying(text: str) -> bytes:
    """A one-page PDF whose content stream draws ``text`` in Helvetica."""
    writer = PdfWriter()
    page = writer.add_blank_page(300, 200)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                             NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject(
        {NameObject("/F1"): writer._add_object(font)})})
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_has_its_text_extracted() -> None:
    document = read_document("invoice.pdf", pdf_saying("Total due 1200.00 USD"),
                             max_bytes=LIMIT)
    assert (document.kind, document.name) == ("pdf", "invoice.pdf")
    assert "Total due 1200.00 USD" in document.text


def test_plain_text_is_read_and_a_path_in_the_name_is_dropped() -> None:
    document = read_document("../../etc/notes.txt", "Grüße, 12 desks".encode(),
                             max_bytes=LIMIT)
    assert (document.kind, document.name, document.text) == ("text", "notes.txt",
                                                              "Grüße, 12 desks")


def test_an_image_is_kept_without_text() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    assert read_document("scan.png", png, max_bytes=LIMIT).kind == "image"


@pytest.mark.parametrize(("data", "code"), [
    (b"", "invalid_input"),
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\xff\xff", "unsupported_document"),  # a program
    (b"text with a \x00 byte", "unsupported_document"),
    (b"%PDF-1.7 this is not really a PDF", "unsupported_document"),
    (b"x" * (LIMIT + 1), "too_large"),
])
def test_other_bytes_are_refused_with_the_field(data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_document("invoice.pdf", data, max_bytes=LIMIT)
    assert (refused.value.code, refused.value.field) == (code, "document")


def test_extracted_text_is_bounded() -> None:
    document = read_document("long.txt", b"a" * (MAX_TEXT_CHARS + 10), max_bytes=10**6)
    assert len(document.text) == MAX_TEXT_CHARS
