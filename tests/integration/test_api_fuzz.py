"""The JSON API fuzzed from its own OpenAPI document (schemathesis): valid and invalid
requests generated for every operation, sent by a signed-in admin and by a vendor user.
Whatever arrives, the API must never answer with a server error, and every answer must
match what the document promises (status codes, content types, headers, body schemas).

Bounded so it fits in CI: a few dozen examples per operation and mode, a derandomised
search so a failure reproduces. Every operation is run and every failure reported
together, not only the first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

from finbot.bootstrap import App
from finbot.config import Settings
from tests.api_kit import add_user, web_app
from tests.workflow_kit import clean_invoice, clean_vendor, company_with, run_until_idle

EXAMPLES = 20
"""Examples per operation and mode: enough to find unhandled input, small enough for CI."""

BUSINESS_RULES = ("positive_data_acceptance",)
"""Checks left out: "a schema-valid request is accepted" cannot hold for an API whose
rules go past what JSON Schema says (an IBAN's checksum, a cursor this API gave out, an
invoice of a vendor the caller does not act for); those are 4xx answers by design."""


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    with company_with(settings, clean_vendor("v-alpha")) as app:
        app.vendor_work.submit_invoice(clean_invoice("inv-alpha", vendor_id="v-alpha"))
        run_until_idle(app)
        yield app


@pytest.mark.parametrize("role", ["admin", "vendor"])
def test_the_api_answers_every_request_as_its_document_says(app: App, role: str) -> None:
    web = web_app(app)
    email = add_user(app, f"{role}@home.example", role,
                     vendors=("v-alpha",) if role == "vendor" else ())
    headers = {"Authorization": f"Bearer {app.auth.issue_token(email, 'fuzz')}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", web)
    failures: dict[str, str] = {}
    excluded = CHECKS.get_by_names(BUSINESS_RULES)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                      database=None, suppress_health_check=list(HealthCheck))
            def fuzz(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, excluded_checks=excluded)
            try:
                fuzz()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to negate
            except (Exception, BaseExceptionGroup) as failure:  # reported together below
                failures[f"{operation.label} ({mode.value})"] = str(failure)[:2000]
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
