"""The one exception tree: every error FinBot raises on purpose descends from FinbotError.

Each error carries a stable machine-readable ``code``, a human message and, where it
applies, the ``field`` at fault, so that an API or CLI can report it precisely.
"""

from __future__ import annotations


class FinbotError(Exception):
    """Raised for any deliberate FinBot failure; never raised directly."""

    code: str = "finbot_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class InvalidInput(FinbotError):
    """Raised when a value from outside is malformed: bad amount, currency, id or field."""

    code = "invalid_input"


class InvalidMoney(InvalidInput):
    """Raised when an amount is not a finite Decimal/int within the currency's precision."""

    code = "invalid_amount"


class UnknownCurrency(InvalidInput):
    """Raised when a currency code is not an active ISO 4217 code."""

    code = "unknown_currency"


class NotFound(FinbotError):
    """Raised when a named account, transfer, saga or key does not exist."""

    code = "not_found"


class Unauthenticated(FinbotError):
    """Raised when the caller has not proved who it is: no session or token, a wrong
    password, an expired session or a revoked token (one message for all, on purpose)."""

    code = "unauthenticated"


class Forbidden(FinbotError):
    """Raised when the caller may not see or do what it asked (another tenant's data, a
    role it does not hold)."""

    code = "forbidden"


class Conflict(FinbotError):
    """Raised when a request clashes with what is already recorded."""

    code = "conflict"


class AccountExists(Conflict):
    """Raised when an account code is taken by an account with different attributes."""

    code = "account_exists"


class TransferRejected(Conflict):
    """Raised by single-transfer helpers when the ledger refuses a transfer (see result code)."""

    code = "transfer_rejected"


class IdempotencyConflict(Conflict):
    """Raised when an idempotency key is reused with a different request."""

    code = "idempotency_key_reused"


class IdempotencyInProgress(Conflict):
    """Raised when a request with the same idempotency key is still executing."""

    code = "idempotency_in_progress"


class SagaError(FinbotError):
    """Raised when a payment saga cannot start or continue."""

    code = "saga_error"


class ExecutionRefused(FinbotError):
    """Raised when a payment has no approved, matching decision in the log (or breaks a hard
    limit at execution time): nothing is reserved or sent."""

    code = "execution_refused"


class LedgerInconsistency(FinbotError):
    """Raised by verification when stored balances or history disagree with postings."""

    code = "ledger_inconsistent"


class ConfigurationError(FinbotError):
    """Raised when settings are missing, contradictory or unsafe for the environment."""

    code = "configuration_error"


class ModelError(FinbotError):
    """Raised when a language-model call fails; the agent retries or escalates."""

    code = "model_error"


class ModelUnavailable(ModelError):
    """Raised when a model provider cannot answer now (network, timeout, 429/5xx); another
    provider may."""

    code = "model_unavailable"


class ModelOutputInvalid(ModelError):
    """Raised when a model's answer stays malformed (bad JSON, wrong schema, unknown tool)
    after the retries allowed; the item escalates."""

    code = "model_output_invalid"


class ModelRequestsForbidden(ModelError):
    """Raised when a network model call is attempted while the global switch forbids it
    (always under test)."""

    code = "model_requests_forbidden"
