"""A saved office configuration goes live: stored as a version, swapped into the running service,
pushed to every node as its retained config, and written back to the server's YAML file.

:func:`change_problems` refuses a change that would strand a visitor (a service removed while
tickets for it are open, a counter removed while someone works there); :func:`save_and_apply` does
the rest in that order, one save at a time per office.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cherga.server.admin.versions import Version, config_yaml, latest, save_version
from cherga.server.siteconfig import Problem, SiteConfig, parse_site_config

log = logging.getLogger(__name__)

_save_lock = threading.Lock()

# The comment of the version recorded for the config the server started with (the page says so in
# the administrator's language).
LOADED = "@loaded"

CHANGE_PROBLEMS = {
    "office_id_fixed": "the office id cannot change while the server runs",
    "service_has_tickets": "service {service!r} still has {count} open tickets: serve or cancel them first",
    "counter_in_use": "counter {counter!r} is in use (someone is signed in or a visitor is called there)",
}


def change_problems(service: Any, new: SiteConfig | Mapping[str, Any], lang: str = "en") -> list[Problem]:
    """What in ``new`` (a config, or the plain data of one that may not validate yet) would lose a
    ticket or a counter in use, against the running ``service`` (services and counters named as
    ``lang``'s readers know them)."""
    data = new.model_dump() if isinstance(new, SiteConfig) else new
    old: SiteConfig = service.config
    out: list[Problem] = []

    def add(loc: tuple[str | int, ...], key: str, **params: Any) -> None:
        out.append(Problem(loc, key, params, CHANGE_PROBLEMS[key].format(**params)))

    def ids(key: str) -> set[Any]:
        items = data.get(key)
        return {i.get("id") for i in items if isinstance(i, Mapping)} if isinstance(items, list) else set()

    office = data.get("office")
    if isinstance(office, Mapping) and office.get("id") != old.office.id:
        add(("office", "id"), "office_id_fixed")
    kept_services = ids("services")
    open_tickets: dict[str, int] = {}
    for rec in service.store.active_tickets(old.office.id):
        open_tickets[rec.ticket.service] = open_tickets.get(rec.ticket.service, 0) + 1
    for s in old.services:
        if s.id not in kept_services and open_tickets.get(s.id):
            add(("services",), "service_has_tickets", service=s.names.get(lang), count=open_tickets[s.id])
    kept_counters = ids("counters")
    for c in old.counters:
        if c.id not in kept_counters:
            state = service.counter_state(c.id)
            if state.operator or state.ticket is not None:
                add(("counters",), "counter_in_use", counter=c.number)
    return out


def _write_file(path: Path, text: str) -> None:
    """Replace the YAML file in one step: a crash leaves the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_baseline(state: Any, at: Any) -> None:
    """Record the config the server runs as a version when the store does not hold it yet: the first
    time ever (version 1), or when the server started from a file edited by hand since the last save
    (checked once per process), so the next diff shows only the administrator's change."""
    service = state.service
    found = latest(service.store, service.office)
    if found is not None and getattr(state, "config_baseline_checked", False):
        return
    state.config_baseline_checked = True
    if found is not None:
        try:
            if parse_version(found) == service.config:
                return
        except Exception:  # a stored version the schema no longer takes: the running config is recorded
            log.warning("config version %s no longer validates; recording the running config", found.version)
    save_version(service.store, service.office, config_yaml(service.config), author="", comment=LOADED, at=at)


def save_and_apply(state: Any, new: SiteConfig, *, author: str, comment: str, text: str | None = None) -> Version:
    """Store ``new`` as the next version and make it live (service, nodes, YAML file).

    ``state``: the app's state (``service``, ``bridge``, optional ``config_path``). ``text``: the
    exact YAML to store (a restored version keeps its text byte for byte); default: ``new`` dumped.
    """
    service = state.service
    body = text if text is not None else config_yaml(new)
    with _save_lock:
        at = service.now()
        ensure_baseline(state, at)
        saved = save_version(service.store, service.office, body, author=author, comment=comment, at=at)
        service.reconfigure(new)
        state.config = new
        bridge = getattr(state, "bridge", None)
        if bridge is not None and hasattr(bridge, "reconfigure"):
            bridge.reconfigure(new)
        path = getattr(state, "config_path", None)
        if path is not None:
            try:
                _write_file(Path(path), body)
            except OSError:
                # The version is stored and live; the file is what the next start reads: say so loudly.
                log.exception("config version %s is live but %s could not be written", saved.version, path)
    return saved


def parse_version(v: Version) -> SiteConfig:
    return parse_site_config(v.yaml, f"version {v.version}")
