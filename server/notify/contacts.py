"""What a citizen may leave as a contact, checked before anything is stored (pure, no I/O).

A contact is one of: a phone number for SMS (international form, ``+`` and 8–15 digits), an e-mail
address, or a Telegram chat id (a number; a group's is negative). Anything else is refused with a
key the page words in the citizen's language; nothing is kept. The address rules themselves are the
contract's (:func:`cherga.broker_bridge.contract.contact_address`), so the kiosk checks what a
citizen typed by the same rule before it sends.
"""

from __future__ import annotations

import dataclasses

from cherga.broker_bridge.contract import CONTACT_CHANNELS, ContactProblem, contact_address

CHANNELS = CONTACT_CHANNELS


class ContactRefused(ValueError):
    """``key``: ``bad_phone``, ``bad_email``, ``bad_telegram``, ``channel_off`` or ``consent_required``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclasses.dataclass(frozen=True, slots=True)
class Contact:
    channel: str
    address: str


def normalise(channel: str, address: str, *, enabled: list[str], consent: bool) -> Contact:
    """The contact to store, or :class:`ContactRefused` saying what is wrong."""
    if not consent:
        raise ContactRefused("consent_required", "the citizen did not consent: nothing may be stored")
    if channel not in CHANNELS or channel not in enabled:
        raise ContactRefused("channel_off", f"channel {channel!r} is not configured in this office")
    try:
        return Contact(channel, contact_address(channel, address))
    except ContactProblem as exc:
        raise ContactRefused(exc.key, str(exc)) from None
