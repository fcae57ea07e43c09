"""Errors of the service layer: a stable, translatable ``key``, a message for people, an HTTP status.

Every shell maps them the same way: the REST API answers ``status`` with ``{"key", "message"}``,
the MQTT bridge puts ``key`` and ``message`` into the reply's ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    """A request the service refused; ``key`` is what kiosks and pads translate.

    ``params``: the facts a translated message names, as ids and numbers (``counter``, ``service``,
    ``ticket``, ...); a shell turns the ids into names in the reader's language. ``message`` is
    English for logs and API clients.
    """

    status = 400

    def __init__(self, key: str, message: str, status: int | None = None, *,
                 params: Mapping[str, str | int] | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.params: dict[str, str | int] = dict(params or {})
        if status is not None:
            self.status = status

    def as_dict(self) -> dict[str, object]:
        """The REST error body: ``key``, ``message`` and, when the refusal names facts, ``params``."""
        out: dict[str, object] = {"key": self.key, "message": self.message}
        if self.params:
            out["params"] = dict(self.params)
        return out


class NotFound(ServiceError):
    """An unknown office, service, counter, ticket, appointment or account (404)."""

    status = 404


class Conflict(ServiceError):
    """The request is well formed but the queue's state refuses it (409)."""

    status = 409


class StaleCounter(Conflict):
    """Another process changed this counter since this process last saw it (its row is newer).

    The service takes the stored row and retries a counter's button; it only reaches a caller
    (as ``counter_changed``, 409) when the counter keeps changing under it.
    """

    def __init__(self, counter: str) -> None:
        super().__init__("counter_changed", f"counter {counter!r} was changed elsewhere; press again",
                         params={"counter": counter})
        self.counter = counter


class Invalid(ServiceError):
    """Bad input the schema could not catch (422)."""

    status = 422


class Unauthorized(ServiceError):
    """No or a wrong credential (401)."""

    status = 401


class Forbidden(ServiceError):
    """A credential whose role may not do this (403)."""

    status = 403


class StoreFailed(ServiceError):
    """The database did not take the change (503, ``store_failed``): nothing was acknowledged.

    ``unreachable``: the database failed to answer (gone, restarting, a failover under way) rather
    than refusing the change; the service retries such a command for a moment under its command id.
    """

    status = 503

    def __init__(self, *, unreachable: bool) -> None:
        super().__init__("store_failed", "the database did not take the change; try again")
        self.unreachable = unreachable
