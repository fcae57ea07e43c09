"""The two benchmark scripts end with one JSON line carrying the figures the issue asks for."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import EXAMPLES, REPO


def _script(name: str) -> ModuleType:
    """Load ``bench/NAME.py`` as the plain script it is (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


schedule_quality = _script("schedule_quality")
workload = _script("workload")

REQUIRED = ("within_15_min", "p95_wait_min", "mean_wait_min", "walkouts", "booked_within_5_min",
            "max_wait_ratio_lowest_class", "prediction_mae_min", "baseline_mae_min", "under_prediction_over_5_min")


def _last_json(out: str) -> dict[str, object]:
    line = out.strip().splitlines()[-1]
    data = json.loads(line)
    assert isinstance(data, dict)
    return data


def test_quick_run_reports_every_figure_and_policies_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert schedule_quality.main(["--quick"]) == 0
    report = _last_json(capsys.readouterr().out)
    assert report["bench"] == "schedule_quality"
    for key in REQUIRED:
        assert isinstance(report[key], int | float), key
    policies = report["policies"]
    assert isinstance(policies, dict)
    assert {"fifo_per_service", "fifo", "core"} <= set(policies["2x"])
    assert report["staffing_erlang_c"]["peak_needed_pooled"] > 0  # type: ignore[index]
    # Where Erlang C finds services short of desks, adding them must make the day better.
    what_if = report["with_erlang_c_desks"]
    assert isinstance(what_if, dict) and what_if["extra_desks"] > 0
    assert what_if["within_15_min"] > report["within_15_min"]  # type: ignore[operator]


def test_a_written_workload_replays_through_the_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = str(EXAMPLES / "demo-office.yaml")
    csv = tmp_path / "demo.csv"
    assert workload.main(["--config", demo, "--load", "1.5", "--seed", "2", "--out", str(csv)]) == 0
    written = _last_json(capsys.readouterr().out)
    assert written["visitors"] and csv.read_text(encoding="utf-8").startswith("arrival_s,service,")
    assert schedule_quality.main(["--config", demo, "--workload", str(csv), "--policies", "fifo,core"]) == 0
    report = _last_json(capsys.readouterr().out)
    assert report["visitors_per_day"] == written["visitors"]
    assert 0 <= float(report["within_15_min"]) <= 1  # type: ignore[arg-type]
