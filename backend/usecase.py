"""The `@use_case` guard: a use case commits once, or rolls back everything it did."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.orm import Session

P = ParamSpec("P")
T = TypeVar("T")


def use_case(fn: Callable[P, T]) -> Callable[P, T]:
    """Roll the keyword `session` back when `fn` raises, so a refusal leaves nothing behind."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        session: Any = kwargs["session"]
        assert isinstance(session, Session)
        try:
            return fn(*args, **kwargs)
        except BaseException:
            session.rollback()
            raise

    return run
