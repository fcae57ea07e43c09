"""The HIL harness's fixtures: a whole office as separate processes, its artefacts kept per scenario.

Artefacts (ticket PNGs, screenshots, every process's log, the database) stay in
``artifacts/hil/<scenario>/`` (or ``$CHERGA_HIL_ARTIFACTS/<scenario>/``) after the test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cherga.office import Layout, Office

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CHERGA_HIL_ARTIFACTS", REPO / "artifacts" / "hil"))
# A bench with real hardware: CHERGA_HIL_INVENTORY=bench.yaml names, per node, its real hardware
# options (see docs/hil.md). Without it every node runs on emulated hardware.
INVENTORY = os.environ.get("CHERGA_HIL_INVENTORY")


def bench_hardware() -> dict[str, dict[str, Any]]:
    if not INVENTORY:
        return {}
    data = yaml.safe_load(Path(INVENTORY).read_text(encoding="utf-8")) or {}
    nodes = data.get("nodes") or {}
    if not isinstance(nodes, dict):
        raise ValueError(f"{INVENTORY}: 'nodes' must map node ids to hardware options")
    return {str(k): dict(v) for k, v in nodes.items()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # On real hardware the harness cannot read paper or inject a printer fault: those checks need emulators.
    if INVENTORY:
        skip = pytest.mark.skip(reason="needs emulated hardware (CHERGA_HIL_INVENTORY is set)")
        for item in items:
            if "emulated_only" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def office_factory(artifacts: Path) -> Iterator[Callable[..., Office]]:
    started: list[Office] = []

    class _Office(Office):
        def __init__(self, config: Path | None = None, **kw: object) -> None:
            kw.setdefault("layout", Layout())
            kw.setdefault("hardware", bench_hardware())
            super().__init__(config or REPO / "examples" / "demo-office.yaml", artifacts / "office", **kw)  # type: ignore[arg-type]
            started.append(self)

    yield _Office
    for o in started:
        o.stop()


@pytest.fixture
def office(office_factory: Callable[..., Office]) -> Iterator[Office]:
    with office_factory() as o:
        yield o
