"""Every component's message catalogs, by name: what the i18n tests walk over."""

from __future__ import annotations

from pathlib import Path

from cherga.counter_pad.words import CATALOGS as COUNTER_PAD
from cherga.display.messages import CATALOGS as DISPLAY
from cherga.i18n import Catalogs
from cherga.kiosk.i18n import CATALOGS as KIOSK
from cherga.server.admin.i18n import CATALOGS as ADMIN
from cherga.server.analytics.i18n import CATALOGS as ANALYTICS
from cherga.server.informing.i18n import CATALOGS as INFORMING
from cherga.server.mirror.i18n import CATALOGS as MIRROR
from cherga.server.notify.texts import CATALOGS as NOTIFY
from cherga.server.panel.i18n import CATALOGS as PANEL
from cherga.server.ticketpage.i18n import CATALOGS as TICKET_PAGE

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS: dict[str, Catalogs] = {"kiosk": KIOSK, "display": DISPLAY, "web pages": MIRROR, "panel": PANEL,
                                   "analytics": ANALYTICS, "ticket page": TICKET_PAGE,
                                   "informing": INFORMING,
                                   "counter pad": COUNTER_PAD, "admin": ADMIN, "notifications": NOTIFY}
