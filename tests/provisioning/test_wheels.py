"""The wheelhouse commands, run by the real pip against a local folder of arm64 wheels (offline).

The folder stands in for the package index: tiny but valid wheels named exactly as the real ones are
(Pillow's ``manylinux_2_28`` and older ``manylinux2014`` wheels, lgpio's ``manylinux_2_34``), and the
Cherga wheel declaring its extras. pip's own tag matching decides what is taken, as it does online.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cherga.provisioning import wheels as wheels_mod
from cherga.provisioning.cli import app

REPO = Path(__file__).resolve().parents[2]
VERSION = wheels_mod.source_version(REPO)


def _wheel(folder: Path, filename: str, requires: tuple[str, ...] = (), extras: tuple[str, ...] = ()) -> None:
    name, version = filename.split("-")[:2]
    info = f"{name}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Provides-Extra: {e}" for e in extras] + [f"Requires-Dist: {r}" for r in requires]
    tag = "-".join(filename[:-4].split("-")[2:])
    with zipfile.ZipFile(folder / filename, "w") as z:
        z.writestr(f"{info}/METADATA", "\n".join(meta) + "\n")
        z.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n")
        z.writestr(f"{info}/RECORD", "")


@pytest.fixture
def index(tmp_path: Path) -> Path:
    d = tmp_path / "index"
    d.mkdir()
    for py in ("311", "313"):
        _wheel(d, f"pillow-9.0.0-cp{py}-cp{py}-manylinux2014_aarch64.whl")
        _wheel(d, f"pillow-11.0.0-cp{py}-cp{py}-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl")
    _wheel(d, "lgpio-0.2.2.0-cp311-cp311-manylinux_2_34_aarch64.whl")
    _wheel(d, "pip-24.0-py3-none-any.whl")
    return d


def _download(cmd: list[str], index: Path) -> subprocess.CompletedProcess[str]:
    # offline: the local folder is the only index
    return subprocess.run([*cmd, "--no-index", "--find-links", str(index)], capture_output=True, text=True,
                          timeout=120)


def test_the_wheelhouse_has_the_new_pillow_and_lgpio_for_bookworm_and_a_python_3_13_set_for_trixie(
        tmp_path: Path, index: Path) -> None:
    out = tmp_path / "wheels"
    out.mkdir()
    # what the first command (pip wheel of the checkout) makes: the Cherga wheel with its extras
    _wheel(out, f"cherga-{VERSION}-py3-none-any.whl", extras=("kiosk", "display", "pad", "pi5"),
           requires=('pillow>=10; extra == "kiosk"', 'lgpio>=0.2; extra == "pi5"'))
    build, *downloads = wheels_mod.commands(out, REPO, pip=(sys.executable, "-m", "pip"))
    assert build[-5:] == ["wheel", "--no-deps", "-w", str(out), str(REPO)]
    assert len(downloads) == 2
    for cmd in downloads:
        result = _download(cmd, index)
        assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(p.name for p in out.glob("*.whl"))
    assert "pillow-11.0.0-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl" in names
    assert "pillow-11.0.0-cp313-cp313-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl" in names
    assert "lgpio-0.2.2.0-cp311-cp311-manylinux_2_34_aarch64.whl" in names  # the Pi 5's pins
    assert not any(n.startswith("pillow-9") for n in names)
    assert "pip-24.0-py3-none-any.whl" in names


def test_the_old_documented_command_missed_lgpio_and_cherga_itself(tmp_path: Path, index: Path) -> None:
    """Why the commands changed: the old line, run the same way, fails."""
    out = tmp_path / "wheels"
    out.mkdir()
    old = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--platform", "manylinux2014_aarch64",
           "--python-version", "3.11", "-d", str(out), "cherga[kiosk,display,pad,pi5]", "pip"]
    result = _download(old, index)
    assert result.returncode != 0 and "No matching distribution found for cherga" in result.stderr


def test_provision_wheels_dry_run_prints_the_commands_for_both_pi_os_pythons(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["wheels", str(tmp_path / "w"), "--source", str(REPO), "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3 and "wheel --no-deps" in lines[0]
    assert "--python-version 3.11" in lines[1] and f"'cherga[kiosk,display,pad,pi5]=={VERSION}'" in lines[1]
    assert "--python-version 3.13" in lines[2] and "manylinux_2_41_aarch64" in lines[2]
    assert not (tmp_path / "w").exists()  # nothing ran
