"""The seam between the node runtime and a role (kiosk, display, pad).

A role is a class in its own package (``kiosk/``, ``display/``, ``counter_pad/``) that implements
:class:`NodeRole`. The launcher finds it by name through :func:`load_role`, which looks in the
``cherga.roles`` entry-point group first, then in :data:`BUILTIN_ROLES`, then in roles registered at
run time with :func:`register_role` (tests). Nothing here imports a role package at module level,
so a counter Pi never imports pygame.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from cherga.firmware_host.config import NodeConfig
    from cherga.firmware_host.session import NodeSession

HealthValue = str | int | float | bool | None


@runtime_checkable
class NodeRole(Protocol):
    """What every role implements.

    The launcher builds the role with no arguments (hardware is a keyword argument with a
    default), then calls :meth:`start` once the session is started (it may not be connected
    yet), calls :meth:`health` before each heartbeat, and :meth:`stop` on shutdown.
    """

    def start(self, session: NodeSession, config: NodeConfig) -> None:
        """Subscribe, open hardware, start threads. Must return promptly (under ~5 s)."""

    def stop(self) -> None:
        """Release hardware and threads. Called once, from the launcher's thread."""

    def health(self) -> dict[str, HealthValue]:
        """Flat health facts for telemetry, e.g. ``{"printer": "paper_out", "board_ok": True}``."""


@runtime_checkable
class BlockingRole(NodeRole, Protocol):
    """Optional: a role whose UI loop must own the main thread (pygame) also defines ``run``.

    The launcher then calls ``run(stop)`` on the main thread after :meth:`start`; it must return
    soon after ``stop`` is set (SIGTERM) or return by itself to end the node.
    """

    def run(self, stop: threading.Event) -> None: ...


RoleFactory = Callable[[], NodeRole]

# role name -> "module:attribute"; the attribute is a class or a no-argument factory.
BUILTIN_ROLES: dict[str, str] = {
    "kiosk": "cherga.kiosk.role:KioskRole",
    "display": "cherga.display.role:DisplayRole",
    "pad": "cherga.counter_pad.role:PadRole",
}
# role name -> the pip extra that installs what it needs (pyproject's optional dependencies)
ROLE_EXTRAS: dict[str, str] = {"kiosk": "kiosk", "display": "display", "pad": "pad"}
ENTRY_POINT_GROUP = "cherga.roles"
_registered: dict[str, RoleFactory | str] = {}


class RoleNotFound(LookupError):
    """The role name is unknown, or its package is not installed on this node."""


def register_role(name: str, factory: RoleFactory | str) -> None:
    """Register (or replace) a role: a factory or a ``"module:attribute"`` string. Wins over the rest."""
    _registered[name] = factory


def unregister_role(name: str) -> None:
    _registered.pop(name, None)


def _resolve(spec: str) -> RoleFactory:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RoleNotFound(f"role module {module_name!r} cannot be imported: {exc}") from exc
    try:
        factory: Any = getattr(module, attr)
    except AttributeError as exc:
        raise RoleNotFound(f"{module_name} has no {attr!r}") from exc
    return factory  # type: ignore[no-any-return]


def load_role(name: str) -> RoleFactory:
    """The factory of the role called ``name``."""
    if name in _registered:
        found = _registered[name]
        return _resolve(found) if isinstance(found, str) else found
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    if name in BUILTIN_ROLES:
        return _resolve(BUILTIN_ROLES[name])
    known = sorted({*_registered, *BUILTIN_ROLES})
    raise RoleNotFound(f"unknown role {name!r}; known: {', '.join(known)}")
