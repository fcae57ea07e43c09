"""Analytics: reports from the event log, exports, the manager's page and the public load page.

The pure report engine (:mod:`.records`, :mod:`.engine`, :mod:`.report`, :mod:`.staffing`,
:mod:`.stats`) imports no web or database library, so the simulator and benchmarks can use it
alone. ``router`` (the FastAPI pages and feeds, :mod:`.routes`) is imported lazily on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["router"]


def __getattr__(name: str) -> Any:
    if name == "router":
        from cherga.server.analytics.routes import router

        return router
    raise AttributeError(name)
