"""The administration pages (issue 18): the office's configuration edited in the browser through the
site config's own model, staff accounts, configuration versions, YAML import and export.

``router`` (the APIRouter of :mod:`server.admin.routes`) is what ``server.app`` includes.
"""

from cherga.server.admin.routes import router

__all__ = ["router"]
