"""``finbot chat``: talk to the vendor assistant as a vendor, from the terminal: one message
with ``--message``, else a conversation read line by line from standard input."""

from __future__ import annotations

import typer

from finbot.agents.runner import ChatTurn
from finbot.bootstrap import bootstrap
from finbot.domain.errors import ModelError
from finbot.entrypoints.cli.common import console, errors, reports_errors
from finbot.services.assistant import VendorAssistant

PROMPT = "you> "
REPLY = "assistant> "


@reports_errors
def chat(vendor: str = typer.Option(..., "--vendor", show_default=False,
                                    help="The vendor id to chat as."),
         message: str | None = typer.Option(None, "--message", "-m",
                                            help="Send this one message and exit; without "
                                                 "it, read messages from standard input."),
         conversation: str | None = typer.Option(None, "--conversation",
                                                 help="Continue this conversation id; "
                                                      "default: start a new one.")) -> None:
    """Ask the vendor assistant about the vendor's own invoices, payments and onboarding;
    the reply streams as it is written. An empty line or end of input ends a conversation."""
    app = bootstrap()
    try:
        assistant = VendorAssistant(app.uow, app.models, app.agent_tools, outbox=app.outbox)
        conversation = conversation or assistant.start(vendor)
        if message is not None:
            _reply(assistant, vendor, message, conversation)
            _conversation_line(conversation)
        else:
            _conversation_line(conversation)
            _converse(assistant, vendor, conversation)
    finally:
        app.close()


def _converse(assistant: VendorAssistant, vendor: str, conversation: str) -> None:
    while True:
        try:
            line = input(PROMPT).strip()
        except EOFError:
            print()
            return
        if not line:
            return
        print(REPLY, end="", flush=True)
        try:
            _reply(assistant, vendor, line, conversation)
        except ModelError as error:  # the question is stored; the vendor may ask again
            print(flush=True)
            errors.print(f"error[{error.code}]: {error.message}", markup=False, style="red")


def _reply(assistant: VendorAssistant, vendor: str, text: str, conversation: str) -> None:
    for item in assistant.ask(vendor, text, conversation_id=conversation):
        if isinstance(item, ChatTurn):
            print(flush=True)
        else:
            print(item, end="", flush=True)


def _conversation_line(conversation: str) -> None:
    console.print(f"conversation {conversation} (continue it with --conversation "
                  f"{conversation})", style="dim", highlight=False, soft_wrap=True)
