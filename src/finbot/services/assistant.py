"""The vendor assistant as a use case: a vendor's question is stored before the model is
asked, the conversation so far goes with it, and the streamed reply is stored when whole.

The question is committed first so that a model that fails or times out loses nothing the
vendor wrote; the reply is committed on its own once the model has finished.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from finbot.agents.communication import colleague_tools, converse
from finbot.agents.ports import AgentTools
from finbot.agents.runner import ChatTurn
from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput, NotFound
from finbot.domain.sandboxes import SandboxMode
from finbot.domain.users import sandbox_player
from finbot.domain.vendors import MAX_MESSAGE_CHARS, Message, Role, Vendor
from finbot.llm import messages as llm
from finbot.llm.context import CallContext, ModelSource, contextual_model
from finbot.privacy.redaction import redact_text
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.ports import UnitOfWork
from finbot.services.retry import retrying
from finbot.services.screening import screen_in

EXCERPT_CHARS = 600
"""How much of a reply its event carries."""
AGENT_ID = "communication"
"""The agent whose model answers, and the author of the assistant's stored replies."""
MAX_CONVERSATION_ID = 64
"""The width of ``messages.conversation_id``."""
_LLM_ROLES: dict[Role, llm.Role] = {
    "vendor": "user", "assistant": "assistant", "notification": "assistant",
    "admin": "assistant"}
"""Only the vendor speaks as the user; notifications and an admin's words are the
platform's side of the conversation, as the assistant's are."""


class VendorAssistant:
    """The vendor assistant chat: ``start`` a conversation, then ``ask`` in it."""

    def __init__(self, uow: UowFactory, models: ModelSource, agent_tools: AgentTools, *,
                 outbox: Outbox | None = None, clock: Callable[[], int] = now_us,
                 history: int = 20) -> None:
        """``history``: how many of the conversation's latest messages the model sees,
        the new question included."""
        self._uow = uow
        self._models = models
        self._tools = agent_tools
        self._outbox = outbox or Outbox(clock=clock)
        self._clock = clock
        self._history = history

    def start(self, vendor_id: str) -> str:
        """A new conversation id for ``vendor_id``; NotFound for an unknown vendor."""
        with self._uow() as uow:
            _check_vendor(uow, vendor_id)
        return f"chat-{uuid.uuid4().hex}"

    def ask(self, vendor_id: str, text: str, *,
            conversation_id: str) -> Iterator[str | ChatTurn]:
        """Store the vendor's question, then stream the reply: text deltas, then the whole
        ChatTurn once its text is stored. Raises NotFound (unknown vendor) and InvalidInput
        (an empty or too long question or conversation id) at once, before anything is
        stored or the model is asked."""
        if not 0 < len(conversation_id) <= MAX_CONVERSATION_ID:
            raise InvalidInput(f"a conversation id is 1 to {MAX_CONVERSATION_ID} characters",
                               field="conversation_id")
        question = Message(vendor_id, conversation_id, "vendor", vendor_id, text,
                           self._clock())
        history, tenant, training = self._store_question(question)
        extra = colleague_tools(self._tools, tenant) if training else ()
        calls: list[tuple[str, Mapping[str, Any]]] = []  # the model's llm.* events
        model = contextual_model(self._models, CallContext(
            AGENT_ID, workflow_id=conversation_id, session_id=conversation_id, tenant=tenant),
            sink=lambda type_, payload: calls.append((type_, payload)))
        reply = converse(model, self._tools,
                         [llm.Message(_LLM_ROLES[m.role], m.text) for m in history],
                         viewer="vendor", vendor_id=vendor_id, extra=extra)
        return self._storing(reply, question, calls, tenant)

    def _store_question(self, question: Message) -> tuple[Sequence[Message], str, bool]:
        """Store the question; the conversation so far, the vendor's tenant, and whether
        that is an arena sandbox in training mode (whose assistant is over-privileged on
        purpose)."""
        with self._uow() as uow:
            vendor = _check_vendor(uow, question.vendor_id)
            uow.vendors.add_message(question)
            screen_in(uow, self._outbox, surface="chat", subject_id=question.conversation_id,
                      vendor_id=vendor.vendor_id, tenant=vendor.tenant, texts=(question.text,))
            history = uow.vendors.messages(question.vendor_id,
                                           conversation_id=question.conversation_id,
                                           limit=self._history)
            player = sandbox_player(vendor.tenant)
            sandbox = uow.sandboxes.get(player) if player else None
            uow.commit()
        training = sandbox is not None and sandbox.mode is SandboxMode.TRAINING
        return history, vendor.tenant, training

    def _storing(self, reply: Iterator[str | ChatTurn], question: Message,
                 calls: list[tuple[str, Mapping[str, Any]]],
                 tenant: str) -> Iterator[str | ChatTurn]:
        """Yield the reply; the whole turn is stored with the model's llm.* events. If the
        model fails, its events (the error included) are still written, on their own."""
        try:
            for item in reply:
                if isinstance(item, ChatTurn):
                    self._store_answer(question, item, calls, tenant)
                yield item
        except Exception:
            if calls:
                retrying(lambda: self._store_calls(question.conversation_id, calls, tenant))
            raise

    def _store_calls(self, conversation_id: str, calls: list[tuple[str, Mapping[str, Any]]],
                     tenant: str) -> None:
        with self._uow() as uow:
            self._outbox.emit_many_in(uow, conversation_id, calls, tenant=tenant)
            uow.commit()

    def _store_answer(self, question: Message, turn: ChatTurn,
                      calls: list[tuple[str, Mapping[str, Any]]], tenant: str) -> None:
        """Keep the reply and announce it (``assistant.replied``, agents stream, never
        pushed): a redacted excerpt and the tool calls made, which the arena's watch reads
        for a leaked briefing or a call about another vendor; the model's llm.* events go
        in the same transaction. ``calls`` is emptied once they are written."""
        text = turn.text
        with self._uow() as uow:
            self._outbox.emit_many_in(uow, question.conversation_id, calls, tenant=tenant)
            if text.strip():  # nothing to keep when empty: a stored message holds words
                uow.vendors.add_message(Message(
                    question.vendor_id, question.conversation_id, "assistant", AGENT_ID,
                    text[:MAX_MESSAGE_CHARS], self._clock()))
            self._outbox.emit_in(uow, "assistant.replied", question.conversation_id, {
                "vendor_id": question.vendor_id, "conversation_id": question.conversation_id,
                "excerpt": redact_text(text[:EXCERPT_CHARS]),
                "tool_calls": json.dumps([{"name": c.name, "arguments": _plain(c.arguments)}
                                          for c in turn.tool_calls], sort_keys=True)},
                tenant=tenant)
            uow.commit()
        calls.clear()


def _plain(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A tool call's arguments as JSON can hold them (redacted text, anything else as
    its text)."""
    return {str(k): redact_text(v) if isinstance(v, str) else
            v if isinstance(v, int | float | bool) or v is None else str(v)
            for k, v in arguments.items()}


def _check_vendor(uow: UnitOfWork, vendor_id: str) -> Vendor:
    vendor = uow.vendors.get(vendor_id)
    if vendor is None:
        raise NotFound(f"no vendor {vendor_id!r}", field="vendor_id")
    return vendor
