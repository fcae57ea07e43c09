"""What a citizen may leave as a contact, checked before anything is stored (pure, no I/O).

A contact is one of: a phone number for SMS (international form, ``+`` and 8–15 digits), an e-mail
address, or a Telegram chat id (a number; a group's is negative). Anything else is refused with a
key the page words in the citizen's language; nothing is kept.
"""

from __future__ import annotations

import dataclasses
import re

CHANNELS = ("sms", "email", "telegram")

_PHONE = re.compile(r"^\+[1-9]\d{7,14}$")
_EMAIL = re.compile(r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
_CHAT = re.compile(r"^-?\d{1,20}$")


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
    value = address.strip()
    if channel == "sms":
        # People type spaces, dashes and brackets; the gateway wants digits after the plus.
        value = re.sub(r"[\s()\-.]", "", value)
        if value.startswith("00"):
            value = "+" + value[2:]
        if not _PHONE.match(value):
            raise ContactRefused("bad_phone", "a phone number in the international form: + and 8 to 15 digits")
    elif channel == "email":
        if len(value) > 254 or not _EMAIL.match(value):
            raise ContactRefused("bad_email", "not an e-mail address")
    elif not _CHAT.match(value):
        raise ContactRefused("bad_telegram", "a Telegram chat id is a number")
    return Contact(channel, value)
