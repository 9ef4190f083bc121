"""The vendor portal's messages: a vendor's conversation with the platform (notifications,
questions and the assistant's answers), the notes it sent to accounts payable, and the
assistant chat, whose answer streams into the page as the model writes it.

The assistant and the model are synchronous, so the reply is read in a worker thread and
sent on as plain text chunks; a vendor user asks only as a vendor they belong to.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from finbot.agents.runner import ChatTurn
from finbot.domain.errors import FinbotError, InvalidInput
from finbot.domain.users import Permission
from finbot.domain.vendors import MAX_MESSAGE_CHARS, MAX_NOTE_CHARS
from finbot.entrypoints.api.deps import Auth, ScopeDep, limited
from finbot.entrypoints.web.portal import Form_, page, redirect_with

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
UNFINISHED = ("\n\n(The assistant could not finish this answer. Your question is kept; "
              "please try again in a minute.)")
_STREAM_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                   "X-Accel-Buffering": "no"}  # proxies pass each chunk on at once


@router.get("/vendor/messages", dependencies=[Depends(limited("default"))])
def messages_page(request: Request, who: Auth, scope: ScopeDep, vendor_id: str = "",
                  notice: str = "") -> HTMLResponse:
    """One of the caller's vendors (the first unless ``vendor_id`` says): its messages,
    its notes and a new conversation with the assistant."""
    who.require(Permission.OWN_VENDORS)
    vendors = scope.vendors(limit=200)
    chosen = vendor_id or (vendors[0].vendor_id if vendors else "")
    if not chosen:
        return page(request, "messages.html", who, vendors=[], notice=notice)
    return page(request, "messages.html", who, vendors=vendors, vendor_id=chosen,
                conversation_id=scope.start_chat(chosen), messages=scope.messages(chosen),
                notes=scope.notes(chosen), notice=notice, max_message=MAX_MESSAGE_CHARS,
                max_note=MAX_NOTE_CHARS)


@router.post("/vendor/messages/{vendor_id}/chat", dependencies=[Depends(limited("chat"))])
async def ask_assistant(vendor_id: str, scope: ScopeDep, text: Form_,
                        conversation_id: Form_) -> StreamingResponse:
    """The assistant's answer to ``text``, streamed as plain text while the model writes
    it. Refusals (not a member, an empty question) answer at once, before any streaming."""
    reply = await run_in_threadpool(
        lambda: scope.ask_assistant(vendor_id, text.strip(), conversation_id=conversation_id))
    return StreamingResponse(_text_of(reply), media_type="text/plain; charset=utf-8",
                             headers=_STREAM_HEADERS)


@router.post("/vendor/messages/{vendor_id}/notes", dependencies=[Depends(limited("chat"))])
async def send_note(vendor_id: str, scope: ScopeDep, text: Form_) -> Response:
    """A note to accounts payable about one of the caller's vendors."""
    back = f"/vendor/messages?{urlencode({'vendor_id': vendor_id})}"
    try:
        await run_in_threadpool(scope.add_note, vendor_id, text.strip())
    except InvalidInput as refused:
        return redirect_with(back, f"Not sent: {refused.message}")
    return redirect_with(back, "Sent to accounts payable.")


async def _text_of(reply: Iterator[str | ChatTurn]) -> AsyncIterator[str]:
    """The reply's text deltas, each read off the event loop; a model that fails midway
    ends the answer with words the vendor can act on (the error's detail is logged by
    code only: it may quote the vendor's words)."""
    try:
        async for item in iterate_in_threadpool(reply):
            if isinstance(item, str):
                yield item
    except FinbotError as failed:
        logger.warning("the vendor assistant's reply failed", extra={"code": failed.code})
        yield UNFINISHED
