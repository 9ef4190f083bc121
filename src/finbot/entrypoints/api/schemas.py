"""The API's request and response bodies, kept apart from tables and domain values.

Amounts travel as decimal strings with their currency (never JSON floats); times as
microseconds since the epoch; lists as pages with an opaque ``next_cursor``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import Base64Bytes, BaseModel, ConfigDict, Field, field_validator

from finbot.adapters.documents import Document, read_document, with_text_of
from finbot.domain.errors import InvalidInput
from finbot.domain.invoices import Invoice, InvoiceLine
from finbot.domain.ledger import Account, Transfer
from finbot.domain.money import Currency, Money
from finbot.domain.reviews import Review, ReviewItem
from finbot.domain.timeline import Entry, PaymentLine
from finbot.domain.users import User
from finbot.domain.vendors import DOCUMENT_KINDS, ERASED, Note, Vendor

T = TypeVar("T")
Amount = Decimal


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ANY_ROUTE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body is not well-formed JSON"),
    401: _error("No valid session cookie or API token"),
    403: _error("The caller's role does not allow this"),
    404: _error("No such record for this caller"),
    422: _error("The request breaks a rule (the field says which)"),
    429: _error("Too many requests; Retry-After says when to try again")}
"""What any route may answer besides its success, all with the one error body."""

CONFLICT: dict[int | str, dict[str, Any]] = {409: _error(
    "The request clashes with the state of things (e.g. an idempotency key reused "
    "with another request)")}
"""What a write may answer when it clashes with what is already there."""


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as ?cursor= for the next page; null on the last page")


def encode_cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def next_cursor(items: Sequence[Any], limit: int, position: Callable[[Any], Any]
                ) -> str | None:
    """The cursor for the page after ``items``: the last item's ``position`` after a full
    page, None after a short one (the last)."""
    return encode_cursor(position(items[-1])) if items and len(items) == limit else None


def decode_cursor(cursor: str | None, *shape: type) -> tuple[Any, ...] | None:
    """The position a cursor from ``encode_cursor`` holds, one value of each of
    ``shape``'s types; InvalidInput for any other string, forged ones included."""
    if not cursor:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        position = None
    if not (isinstance(position, list) and len(position) == len(shape) and all(
            type(value) is kind for value, kind in zip(position, shape, strict=True))):
        raise InvalidInput("not a cursor this API gave out", field="cursor")
    return tuple(position)


# -- users ------------------------------------------------------------------------------


class LoginRequest(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class UserPublic(BaseModel):
    user_id: str
    email: str
    display_name: str
    roles: list[str]
    tenant: str
    vendors: list[str]

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(user_id=user.user_id, email=user.email, display_name=user.display_name,
                   roles=sorted(user.roles), tenant=user.tenant, vendors=sorted(user.vendors))


class Me(BaseModel):
    user_id: str
    tenant: str
    roles: list[str]
    vendors: list[str]
    permissions: list[str]
    via: str
    csrf_token: str | None = Field(None, description="Send as X-CSRF-Token on writes")


# -- vendors ----------------------------------------------------------------------------


class FileIn(BaseModel):
    """A file sent inside a JSON body."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    content_base64: Base64Bytes = Field(
        description="The file's bytes in base64: a PDF, UTF-8 text or an image, at most "
        "FINBOT_MAX_UPLOAD_BYTES once decoded")

    def read(self, *, max_bytes: int, field: str) -> Document:
        """The file checked by its bytes, with its text; InvalidInput naming ``field``."""
        try:
            return read_document(self.name, self.content_base64, max_bytes=max_bytes)
        except InvalidInput as refused:
            raise InvalidInput(refused.message, code=refused.code, field=field) from None


class DocumentIn(FileIn):
    """An onboarding document and the kind it is (what the onboarding checks look for)."""

    kind: str = Field(json_schema_extra={"enum": list(DOCUMENT_KINDS)})

    @field_validator("kind")
    @classmethod
    def _known(cls, kind: str) -> str:
        if kind not in DOCUMENT_KINDS:
            raise ValueError(f"a document is one of: {', '.join(DOCUMENT_KINDS)}")
        return kind


class VendorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166 alpha-2")
    tax_id: str = Field("", max_length=64)
    iban: str = Field("", max_length=64)
    bic: str = Field("", max_length=16)
    routing_number: str = Field("", max_length=16)
    account_number: str = Field("", max_length=34)
    industry: str = Field("", max_length=200)
    website: str = Field("", max_length=200)
    profile: str = Field("", max_length=4000)
    timezone: str = Field("UTC", max_length=64)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=10)

    def to_vendor(self, documents: Sequence[tuple[str, Document]] = ()) -> Vendor:
        """The vendor to register, with ``documents`` (kind, as read): their kinds for
        the checks, their text appended to the profile."""
        fields = self.model_dump(exclude={"documents", "profile"})
        return Vendor(vendor_id="", **fields, documents=tuple(dict.fromkeys(
            kind for kind, _ in documents)), profile=with_text_of(
            self.profile, (document for _, document in documents)))


class VendorPublic(BaseModel):
    vendor_id: str
    legal_name: str
    country: str
    status: str
    industry: str
    website: str
    bank_account: str = Field(description="Masked: the last four characters only "
                              "([erased] once the vendor was erased)")
    created_at_us: int

    @classmethod
    def of(cls, vendor: Vendor) -> VendorPublic:
        payee = vendor.payee_account
        return cls(vendor_id=vendor.vendor_id, legal_name=vendor.legal_name,
                   country=vendor.country, status=vendor.status.value,
                   industry=vendor.industry, website=vendor.website,
                   bank_account=ERASED if vendor.erased else (
                       f"…{payee[-4:]}" if payee else ""),
                   created_at_us=vendor.created_at_us)


class BankDetails(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iban: str = Field("", max_length=64)
    bic: str = Field("", max_length=16)
    routing_number: str = Field("", max_length=16)
    account_number: str = Field("", max_length=34)


class NoteCreate(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class NotePublic(BaseModel):
    author: str
    text: str
    created_at_us: int

    @classmethod
    def of(cls, note: Note) -> NotePublic:
        return cls(author=note.author.value, text=note.text, created_at_us=note.created_at_us)


# -- invoices ---------------------------------------------------------------------------


class LineIn(BaseModel):
    description: str = Field(min_length=1, max_length=500)
    quantity: Decimal = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class InvoiceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vendor_id: str = Field(min_length=1, max_length=64)
    invoice_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\w.:-]+$")
    number: str = Field(min_length=1, max_length=64)
    amount: Amount = Field(description="Decimal string in the currency's major unit")
    currency: str = Field(min_length=3, max_length=3)
    issued_on: date
    due_on: date
    tax: Amount = Decimal("0")
    po_number: str | None = Field(None, max_length=64)
    lines: list[LineIn] = Field(default_factory=list, max_length=200)
    text: str = Field("", max_length=20_000)
    attachments: list[FileIn] = Field(default_factory=list, max_length=5, description=(
        "The invoice document and anything beside it; their text is read with the "
        "invoice's"))

    def to_invoice(self, invoice_id: str, attached: Sequence[Document] = ()) -> Invoice:
        lines = tuple(InvoiceLine(x.description, x.quantity, x.unit_price,
                                  x.quantity * x.unit_price) for x in self.lines)
        return Invoice(invoice_id, self.vendor_id, self.number, self.amount,
                       self.currency.upper(), self.issued_on, self.due_on, tax=self.tax,
                       po_number=self.po_number, lines=lines,
                       text=with_text_of(self.text, attached))


class InvoicePublic(BaseModel):
    invoice_id: str
    vendor_id: str
    number: str
    amount: str
    currency: str
    issued_on: date
    due_on: date
    status: str
    submitted_at_us: int

    @classmethod
    def of(cls, invoice: Invoice) -> InvoicePublic:
        return cls(invoice_id=invoice.invoice_id, vendor_id=invoice.vendor_id,
                   number=invoice.number, amount=str(invoice.amount),
                   currency=invoice.currency, issued_on=invoice.issued_on,
                   due_on=invoice.due_on, status=invoice.status.value,
                   submitted_at_us=invoice.submitted_at_us)


class TimelineEntry(BaseModel):
    at_us: int
    title: str
    words: str
    outcome: str | None = None

    @classmethod
    def of(cls, entry: Entry) -> TimelineEntry:
        return cls(at_us=entry.at_us, title=entry.title, words=entry.words,
                   outcome=entry.outcome)


class PaymentPublic(BaseModel):
    invoice: InvoicePublic
    expected_on: date | None = Field(description="When it should be paid, until it is")
    paid_at_us: int | None = Field(description="When it was paid")

    @classmethod
    def of(cls, line: PaymentLine) -> PaymentPublic:
        return cls(invoice=InvoicePublic.of(line.invoice), expected_on=line.expected_on,
                   paid_at_us=line.paid_at_us)


class InvoiceTimeline(BaseModel):
    invoice: InvoicePublic
    timeline: list[TimelineEntry]
    next_step: str = Field(description="What the vendor may do next, in plain words")
    expected_payment_on: date | None = None


# -- decisions and reviews --------------------------------------------------------------


class ReviewPublic(BaseModel):
    review_id: str
    reviewer_id: str
    verdict: str
    rationale: str
    created_at_us: int

    @classmethod
    def of(cls, review: Review) -> ReviewPublic:
        return cls(review_id=review.review_id, reviewer_id=review.reviewer_id,
                   verdict=review.verdict.value, rationale=review.rationale,
                   created_at_us=review.created_at_us)


class QueueItemPublic(BaseModel):
    decision_id: str
    vendor_id: str
    amount: str
    currency: str
    reason: str
    priority: int
    due_at_us: int
    required_approvals: int
    approvals: list[str]
    status: str

    @classmethod
    def of(cls, item: ReviewItem) -> QueueItemPublic:
        return cls(decision_id=item.decision_id, vendor_id=item.vendor_id,
                   amount=str(item.amount), currency=item.currency, reason=item.reason,
                   priority=int(item.priority), due_at_us=item.due_at_us,
                   required_approvals=item.required_approvals,
                   approvals=list(item.approvals), status=item.status.value)


class DecisionPublic(BaseModel):
    decision_id: str
    seq: int
    created_at_us: int
    hash: str
    data: dict[str, Any] = Field(description="The record as logged: stage, outcome, "
                                 "reasoning, policy, payment, rules, proposal")
    reviews: list[ReviewPublic]
    queue: QueueItemPublic | None


class ReviewCreate(BaseModel):
    verdict: Literal["APPROVE", "REJECT"]
    rationale: str = Field("", max_length=2000)


# -- ledger -----------------------------------------------------------------------------


class AccountPublic(BaseModel):
    code: str
    name: str
    type: str
    currency: str
    balance: str
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @classmethod
    def of(cls, account: Account) -> AccountPublic:
        b = account.balances
        return cls(code=account.code, name=account.name, type=account.type.value,
                   currency=account.currency,
                   balance=str(Money(account.balance(), Currency.of(account.currency)).amount),
                   debits_pending=b.debits_pending, debits_posted=b.debits_posted,
                   credits_pending=b.credits_pending, credits_posted=b.credits_posted)


class TransferPublic(BaseModel):
    seq: int
    id: str
    kind: str
    debit_account_id: int
    credit_account_id: int
    amount: str
    currency: str
    timestamp_us: int
    parent_id: str | None
    reference: str | None

    @classmethod
    def of(cls, transfer: Transfer) -> TransferPublic:
        return cls(seq=transfer.seq, id=transfer.id, kind=transfer.kind.value,
                   debit_account_id=transfer.debit_account_id,
                   credit_account_id=transfer.credit_account_id,
                   amount=str(Money(transfer.amount, Currency.of(transfer.currency)).amount),
                   currency=transfer.currency, timestamp_us=transfer.timestamp,
                   parent_id=transfer.parent_id, reference=transfer.reference)
