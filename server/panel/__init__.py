"""The operator panel: counter and hall-manager pages served by the office server.

``router`` (the APIRouter of :mod:`server.panel.routes`) is what ``server.app`` includes.
"""

from cherga.server.panel.routes import router

__all__ = ["router"]
