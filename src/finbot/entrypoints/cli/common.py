"""Shared pieces of the CLI: consoles and the error reporter every command uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console

from finbot.domain.errors import FinbotError

F = TypeVar("F", bound=Callable[..., Any])
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False)


def reports_errors(command: F) -> F:
    """Turn FinBot's own errors into one readable line and exit status 2."""
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except FinbotError as error:
            field = f" (field: {error.field})" if error.field else ""
            errors.print(f"error[{error.code}]: {error.message}{field}", markup=False,
                         style="red", soft_wrap=True)
            raise typer.Exit(2) from None
    return wrapper  # type: ignore[return-value]
