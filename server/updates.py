"""Node updates on the office server: the published TUF repository at ``/updates/`` and the rollout view.

The server is only a mirror: ``cherga provision updates publish`` copies the signed repository into
the directory named by ``$CHERGA_UPDATES_DIR`` (default ``/var/lib/cherga/updates``), and nodes
fetch ``/updates/metadata/*.json`` and ``/updates/targets/...`` from here with no internet. Nothing
here signs or checks anything: a node trusts only what the office's keys signed, so a server that
was broken into can withhold an update but cannot make a node install anything (docs/updates.md).

``GET /api/v1/offices/{office}/updates`` (hall manager) puts the release record beside the device
monitor: every release with its stage (which roles and nodes may take it) and every node with the
version it runs and the one it is offered.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from cherga.firmware_host.updater.slots import version_key
from cherga.server import auth
from cherga.server.api.deps import ServiceDep, StaffDep
from cherga.server.api.models import ErrorResponse
from cherga.server.api.offices import device_report
from cherga.server.errors import NotFound

ENV = "CHERGA_UPDATES_DIR"
DEFAULT_DIR = Path("/var/lib/cherga/updates")
# What a node may ask for: TUF metadata by name, and targets below targets/ (no dot-files, no "..").
_METADATA = re.compile(r"^metadata/(\d+\.)?(root|targets|snapshot|timestamp)\.json$")
_TARGET = re.compile(r"^targets/(?:[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,120}/){0,3}[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,120}$")

router = APIRouter()


def updates_dir(request: Request) -> Path:
    """The published repository: ``app.state.updates_dir`` (tests), else ``$CHERGA_UPDATES_DIR``."""
    configured = getattr(request.app.state, "updates_dir", None)
    return Path(configured or os.environ.get(ENV) or DEFAULT_DIR)


@router.get("/updates/{path:path}", tags=["updates"], summary="The signed update repository nodes fetch",
            response_class=FileResponse, responses={404: {"model": ErrorResponse}})
def published_file(request: Request, path: str) -> Response:
    if not (_METADATA.match(path) or (_TARGET.match(path) and ".." not in path)):
        raise NotFound("not_found", "no such update file")
    base = updates_dir(request).resolve()
    file = (base / path).resolve()
    if not file.is_relative_to(base) or not file.is_file():
        raise NotFound("not_found", "no such update file")
    # Metadata changes in place (timestamp.json every day): never let a cache answer for it.
    headers = {"Cache-Control": "no-store"} if path.startswith("metadata/") else None
    media = "application/json" if path.endswith(".json") else "application/octet-stream"
    return FileResponse(file, media_type=media, headers=headers)


class ReleaseStage(BaseModel):
    version: str
    roles: list[str]
    nodes: list[str] | None = Field(description="the nodes that may take it while it is staged; null: every node "
                                    "of its roles")
    added: str | None = None


class NodeUpdateRow(BaseModel):
    node: str
    role: str | None
    state: str
    running: str | None = Field(description="the version the node reported in its birth message")
    offered: str | None = Field(description="the newest release this node may take, newer than what it runs")


class UpdatesView(BaseModel):
    published: bool = Field(description="false: nothing is published in the server's update directory")
    releases: list[ReleaseStage]
    nodes: list[NodeUpdateRow]


def read_record(base: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads((base / "targets" / "releases.json").read_text(encoding="utf-8"))
        return [r for r in data.get("releases", []) if isinstance(r, dict)]
    except (OSError, ValueError, AttributeError):
        return []


def offered_version(releases: list[dict[str, Any]], node: str, role: str | None, running: str | None) -> str | None:
    def newer(v: str) -> bool:
        try:
            return running is None or version_key(v) > version_key(running)
        except ValueError:  # a node that runs a development build ("0.1.0.dev3"): offer the newest
            return True

    fits = [str(r["version"]) for r in releases if role in r.get("roles", [])
            and (r.get("nodes") is None or node in r["nodes"]) and newer(str(r["version"]))]
    return max(fits, key=version_key, default=None)


def offered_versions(request: Request, nodes: list[Any]) -> dict[str, str]:
    """The newer release each node may take (node id -> version), as the updates view says, for the
    hall manager's device table; nodes with nothing newer are left out."""
    releases = read_record(updates_dir(request))
    if not releases:
        return {}
    offered = {n.node: offered_version(releases, n.node, n.role, n.version or None) for n in nodes}
    return {node: v for node, v in offered.items() if v}


@router.get("/api/v1/offices/{office}/updates", response_model=UpdatesView, tags=["updates"],
            responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
            summary="Releases and their staged rollout, and the version each node runs")
def updates_view(request: Request, svc: ServiceDep, account: StaffDep) -> UpdatesView:
    auth.require_role(account, "hall_manager")
    base = updates_dir(request)
    releases = read_record(base)
    stages = [ReleaseStage(version=str(r.get("version")), roles=list(r.get("roles", [])), nodes=r.get("nodes"),
                           added=r.get("added")) for r in releases]
    rows = [NodeUpdateRow(node=n.node, role=n.role, state=n.state, running=n.version or None,
                          offered=offered_version(releases, n.node, n.role, n.version or None))
            for n in device_report(request).nodes]
    return UpdatesView(published=(base / "metadata" / "timestamp.json").is_file(), releases=stages, nodes=rows)
