"""Vendors, and the notes agents, vendors and reviewers keep about them.

A note's author is recorded beside its text, never inside it: when notes are shown to an
agent each carries its provenance as a field, so a vendor cannot write text that reads
back as an agent's or a reviewer's note, whatever the text says.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from finbot.domain.errors import InvalidInput

MAX_NOTE_CHARS = 2_000
DOCUMENT_KINDS: dict[str, str] = {
    "certificate_of_incorporation": "Certificate of incorporation",
    "bank_letter": "Bank letter confirming the account",
    "w9": "W-9 (US taxpayer identification)",
}
"""The onboarding documents the checks recognise: the kind kept with the vendor, and
its name for people."""


ERASED = "[erased]"
"""What a vendor's encrypted field reads as once its data key was destroyed (erasure)."""
SEALED_FIELDS = ("tax_id", "iban", "bic", "routing_number", "account_number")
"""The vendor fields stored only encrypted, under the vendor's own data key."""

DEFAULT_TENANT = "default"
"""The tenant of records that name none: the operating one, unless configured otherwise."""

class VendorStatus(StrEnum):
    """Where a vendor is in onboarding; only an active vendor is paid."""

    PENDING = "pending"
    ACTIVE = "active"
    ESCALATED = "escalated"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class Vendor:
    """A vendor as registered. Bank and tax details are what the vendor declared."""

    vendor_id: str
    legal_name: str
    country: str
    tax_id: str = ""
    iban: str = ""
    bic: str = ""
    routing_number: str = ""
    account_number: str = ""
    industry: str = ""
    website: str = ""
    profile: str = ""
    documents: tuple[str, ...] = ()
    timezone: str = "UTC"
    status: VendorStatus = VendorStatus.PENDING
    created_at_us: int = 0
    bank_changed_at_us: int | None = None
    tenant: str = DEFAULT_TENANT

    def __post_init__(self) -> None:
        if not self.legal_name.strip() or len(self.legal_name) > 200:
            raise InvalidInput("a legal name is 1 to 200 characters", field="legal_name")
        if len(self.country) != 2 or not self.country.isalpha() or not self.country.isupper():
            raise InvalidInput("country is an ISO 3166 alpha-2 code such as DE",
                               field="country")

    @property
    def erased(self) -> bool:
        """Whether the vendor's data key was destroyed: its bank and tax details are gone."""
        return self.tax_id == ERASED

    @property
    def payee_account(self) -> str:
        """The account a payment goes to: the IBAN, else routing/account number."""
        if self.iban:
            return self.iban.replace(" ", "")
        return f"{self.routing_number}/{self.account_number}" if self.account_number else ""


class Author(StrEnum):
    """Who wrote a note."""

    AGENT = "agent"
    VENDOR = "vendor"
    REVIEWER = "reviewer"


@dataclass(frozen=True)
class Note:
    """One remembered fact about a vendor, with its provenance."""

    vendor_id: str
    author: Author
    author_id: str
    text: str
    created_at_us: int

    def __post_init__(self) -> None:
        if not self.text.strip() or len(self.text) > MAX_NOTE_CHARS:
            raise InvalidInput(f"a note is 1 to {MAX_NOTE_CHARS} characters", field="text")

    def as_context(self) -> dict[str, str]:
        """How an agent sees the note: provenance first and apart from the words."""
        return {"author": self.author.value, "author_id": self.author_id,
                "trusted": "yes" if self.author is not Author.VENDOR else "no",
                "text": self.text}


MAX_MESSAGE_CHARS = 4_000
Role = Literal["vendor", "assistant", "notification", "admin"]


@dataclass(frozen=True)
class Message:
    """One message in a vendor's conversation: what the vendor asked, what the assistant
    answered, or a notification the platform sent."""

    vendor_id: str
    conversation_id: str
    role: Role
    author_id: str
    text: str
    created_at_us: int

    def __post_init__(self) -> None:
        if not self.text.strip() or len(self.text) > MAX_MESSAGE_CHARS:
            raise InvalidInput(f"a message is 1 to {MAX_MESSAGE_CHARS} characters",
                               field="text")
