"""Office configuration versions (issue 18): every saved site config, who saved it, when and why.

Each version is the whole site config as YAML text in the store's ``config_versions`` table (one
office's versions numbered 1, 2, ...). Going back to an earlier version saves its text again as a
new version, so the history only grows and says who went back. The YAML written here is what
``cherga config export`` prints and what provisioning reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from typing import Any

import yaml
from sqlalchemy import func, insert, select

from cherga.server.db import schema
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import Store


@dataclasses.dataclass(frozen=True)
class Version:
    office: str
    version: int
    saved_at: dt.datetime
    author: str
    comment: str
    yaml: str


def config_yaml(config: SiteConfig) -> str:
    """The site config as YAML a person can read: defaults left out, keys in the schema's order."""
    data: dict[str, Any] = config.model_dump(mode="json", exclude_defaults=True)
    # libyaml's emitter when present: the pure-Python one took ~160 ms of each save for the demo office.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, allow_unicode=True, sort_keys=False, width=120, default_flow_style=False)


def save_version(store: Store, office: str, text: str, *, author: str, comment: str, at: dt.datetime) -> Version:
    """Store ``text`` as the office's next version (one transaction: two saves never share a number)."""
    t = schema.config_versions
    with store.transaction() as tx:
        last = tx.conn.execute(select(func.max(t.c.version)).where(t.c.office == office)).scalar()
        number = int(last or 0) + 1
        tx.conn.execute(insert(t).values(office=office, version=number, saved_at=at, author=author,
                                         comment=comment, yaml=text))
    return Version(office, number, at, author, comment, text)


def _version(row: Any) -> Version:
    return Version(row["office"], row["version"], row["saved_at"], row["author"], row["comment"], row["yaml"])


def versions(store: Store, office: str) -> list[Version]:
    """The office's versions, newest first."""
    t = schema.config_versions
    with store.reading() as conn:
        rows = conn.execute(select(t).where(t.c.office == office).order_by(t.c.version.desc())).mappings().all()
    return [_version(r) for r in rows]


def version(store: Store, office: str, number: int) -> Version | None:
    t = schema.config_versions
    with store.reading() as conn:
        row = conn.execute(select(t).where((t.c.office == office) & (t.c.version == number))).mappings().first()
    return None if row is None else _version(row)


def latest(store: Store, office: str) -> Version | None:
    """The office's newest version (one row, whatever the length of the history)."""
    t = schema.config_versions
    with store.reading() as conn:
        row = conn.execute(select(t).where(t.c.office == office).order_by(t.c.version.desc()).limit(1)).mappings().first()
    return None if row is None else _version(row)


def diff(old: Version | None, new: Version) -> str:
    """What ``new`` changed against ``old`` (or against nothing), as a unified diff of the YAML."""
    before = old.yaml.splitlines(keepends=True) if old else []
    return "".join(difflib.unified_diff(before, new.yaml.splitlines(keepends=True),
                                        fromfile=f"version {old.version}" if old else "(none)",
                                        tofile=f"version {new.version}"))
