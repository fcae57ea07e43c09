"""What the counter pad says on its counter-top board when a press is refused, in the office's language.

The contract carries stable refusal keys (``counter_taken``, ``not_signed_in``, ...): they stay on the
wire and in the pad's health report, and never reach the board. The board (8 characters: the number
board of ``firmware_host.ledboard``) shows a short word from ``locales/<lang>.json`` instead, in the
office's first language (the retained node config's ``languages``). Many keys share one word: a
board of 8 characters says what to do or what is wrong, not why in full; a key this pad does not know
(a newer server's) reads "refused", never the key.
"""

from __future__ import annotations

from pathlib import Path

from cherga.i18n import Catalogs

CATALOGS = Catalogs(Path(__file__).resolve().parent / "locales")
BOARD_CHARS = 8  # the counter-top number board's width (the emulator's and the common boards')

# refusal key (the pad's own or the server's) -> the catalog's word for it
MEANING: dict[str, str] = {
    # the link
    "offline": "offline", "no_reply": "offline", "internal_error": "offline", "stale_command": "offline",
    "store_conflict": "offline", "error": "offline",
    # a press while the last one is still on its way
    "busy": "wait",
    # who is at the counter
    "not_signed_in": "sign_in", "pin_required": "sign_in",
    "bad_pin": "bad_pin", "pin_too_short": "bad_pin", "unknown_operator": "bad_pin", "bad_credentials": "bad_pin",
    "office_forbidden": "bad_pin",  # a PIN of another office's account is no PIN here (issue 21)
    "too_many_attempts": "locked",  # wrong PINs locked PIN sign-in at this counter for a while (issue 23)
    "counter_taken": "taken",
    "counter_closed_by_manager": "closed",
    # a visitor is still called or served here (or at the operator's other counter)
    "ticket_in_progress": "serving", "busy_at_other_counter": "serving",
    # nobody to call
    "queue_empty": "nobody",
}


def refusal_text(lang: str, key: str) -> str:
    """The board's word for refusal ``key`` in ``lang`` (English for a language without a catalog)."""
    return CATALOGS.catalog(lang)[f"refusal_{MEANING.get(key, 'refused')}"]
