"""Browser mirrors of the hall display and the kiosk, served by the office server.

``make run`` works on a machine without a screen: the hall mirror draws the same retained hall
state the TV board draws, and the web kiosk issues tickets through the same API a kiosk uses (it
is also a usable kiosk on any tablet). ``/`` is the office's start page with every link.
``/office/{office}/book`` is the citizens' booking page (:mod:`server.mirror.booking`).
"""

from cherga.server.mirror.booking import router as booking_router
from cherga.server.mirror.routes import router

router.include_router(booking_router)

__all__ = ["router"]
