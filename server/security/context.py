"""The request being served, as security code far from the route sees it: the caller's address, the
office whose server answers, and the staff member its token or cookie proved.

The middleware opens a :class:`RequestContext` per HTTP request in a context variable; FastAPI runs
sync routes in worker threads with a copy of the context, which still holds the *same* object, so
what :func:`cherga.server.auth.account_for_token` learns there (who is signed in) reaches the
middleware's audit record. Outside a request (the CLI, the MQTT bridge, tests calling the service)
there is no context and nothing is bound to an office or an address.
"""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar
from typing import Any

__all__ = ["RequestContext", "current", "opened"]


@dataclasses.dataclass
class RequestContext:
    address: str | None
    office: str | None
    # Every office this server runs (issue 21): a session issued by any of them is good here.
    served: tuple[str, ...] | None = None
    staff: Any = None  # the StaffAccount its credential proved (set by auth.account_for_token / login)
    audited: bool = False  # the route wrote its own audit record (sign-in): the middleware adds none


_current: ContextVar[RequestContext | None] = ContextVar("cherga_request_context", default=None)


def current() -> RequestContext | None:
    return _current.get()


def opened(ctx: RequestContext) -> Any:
    """Make ``ctx`` the current request's; returns the token for :func:`closed`."""
    return _current.set(ctx)


def closed(token: Any) -> None:
    _current.reset(token)
