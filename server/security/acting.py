"""Who may act where: an operator acts only at the counter they are signed in at.

The service calls :func:`check` for every counter button a caller *proved* an identity for (REST
token, panel session), before anything changes, under the office's lock. A pad's presses carry no
proven name: the pad acts as whoever signed in at it with a PIN, so the check has nothing to add there.

* Signing in is not checked here (the service's sign-in has its own rules: one person, one counter;
  a counter held by someone else stays theirs).
* The operator signed in at the counter may press anything there.
* Hall managers and administrators keep their rights everywhere (the manager's send, close, move).
* Anyone else — an operator at a counter held by another, or at a counter nobody signed in at — is
  refused (``not_your_counter`` / ``not_signed_in_here``, 403): no more one person "at" eight
  counters, no more finishing a colleague's visitor under one's own name.
"""

from __future__ import annotations

from cherga.broker_bridge.contract import CounterAction
from cherga.server.errors import Conflict, Forbidden
from cherga.server.store import Store

__all__ = ["check", "MANAGER_ROLES"]

MANAGER_ROLES = ("hall_manager", "admin")


def check(store: Store, *, counter: str, holder: str | None, actor: str, action: CounterAction | str,
          closed_by_manager: bool = False) -> None:
    """Raise :class:`Forbidden` unless ``actor`` may press ``action`` at ``counter`` held by ``holder``.

    ``closed_by_manager``: the hall manager closed the counter (nobody holds it); an operator is told
    that, the more useful reason, rather than "sign in there first".
    """
    if action in (CounterAction.SIGN_IN, CounterAction.SIGN_IN.value) or holder == actor:
        return
    account = store.staff(actor)  # read only when someone acts at a counter that is not theirs
    if account is not None and account.active and account.role in MANAGER_ROLES:
        return
    if holder is None and closed_by_manager:
        raise Conflict("counter_closed_by_manager", f"the hall manager closed counter {counter}",
                       params={"counter": counter})
    if holder is None:
        raise Forbidden("not_signed_in_here", f"{actor} is not signed in at counter {counter}; sign in there first",
                        params={"counter": counter})
    raise Forbidden("not_your_counter", f"counter {counter} is held by another operator; only they act there",
                    params={"counter": counter})
