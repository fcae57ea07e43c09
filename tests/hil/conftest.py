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

import pytest

from cherga.office import Layout, Office

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CHERGA_HIL_ARTIFACTS", REPO / "artifacts" / "hil"))


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
            super().__init__(config or REPO / "examples" / "demo-office.yaml", artifacts / "office", **kw)  # type: ignore[arg-type]
            started.append(self)

    yield _Office
    for o in started:
        o.stop()


@pytest.fixture
def office(office_factory: Callable[..., Office]) -> Iterator[Office]:
    with office_factory() as o:
        yield o
