"""What a node's role does with a real-time command, for tests that play nodes on the node runtime."""

from __future__ import annotations

import time

from cherga.broker_bridge.contract import Command, Reply
from cherga.firmware_host.session import NodeSession, Offline, RequestTimeout

__all__ = ["ANSWER_S", "until_answered"]

#: how long a command may go unanswered before a test calls it lost (generous: a loaded machine is slow)
ANSWER_S = 120.0


def until_answered(session: NodeSession, route: str, command: Command, *, within: float = ANSWER_S,
                   per_try: float = 20.0, resends: list[int] | None = None) -> Reply:
    """Send ``command`` and resend it (the same id: the server applies it once) while the link is down
    or the answer is slow, until it is answered. Each resend appends to ``resends``. Fails the test
    when nothing answers within ``within`` seconds.
    """
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        try:
            return session.request(route, command, timeout=max(0.5, min(per_try, left)))
        except (Offline, RequestTimeout):
            if time.monotonic() >= deadline:
                raise AssertionError(f"{route} {command.id} was never answered in {within:g} s") from None
            if resends is not None:
                resends.append(1)
            session.wait_connected(min(2.0, max(0.1, left)))
