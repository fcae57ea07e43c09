"""A counter Pi installs ``cherga[pad]`` only: every command that needs another extra says which.

The venv is real and holds exactly what a pad's first boot installs (real wheels of this
environment, offline pip), so a missing FastAPI, pygame or pyfatfs is missing for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def pad_venv(pad_wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("pad-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip_wheel = next(pad_wheels.glob("pip-*.whl"))
    subprocess.run([str(venv / "bin/python"), f"{pip_wheel}/pip", "install", "-q", "--no-index",
                    "--find-links", str(pad_wheels), "cherga[pad]"], check=True, timeout=600)
    return venv


def _cherga(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # cwd away from the checkout, so nothing imports from the repository instead of the venv
    return subprocess.run([str(venv / "bin/cherga"), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=120)


def test_the_pad_venv_really_lacks_the_other_roles_dependencies(pad_venv: Path, tmp_path: Path) -> None:
    probe = subprocess.run([str(pad_venv / "bin/python"), "-c",
                            "import importlib.util as u; print([m for m in ('fastapi', 'pygame', 'pyfatfs', 'gpiozero')"
                            " if u.find_spec(m)])"], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert probe.stdout.strip() == "['gpiozero']"


def test_staff_on_a_pad_names_the_server_extra_instead_of_a_traceback(pad_venv: Path, tmp_path: Path) -> None:
    done = _cherga(pad_venv, "staff", "add", "olena", "--role", "operator", cwd=tmp_path)
    assert done.returncode == 3
    assert "'server' extra" in done.stderr and "pip install 'cherga[server]'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_provision_on_a_pad_is_a_known_command_that_names_its_extra(pad_venv: Path, tmp_path: Path) -> None:
    listed = _cherga(pad_venv, "--help", cwd=tmp_path)
    assert "provision" in listed.stdout and "staff" in listed.stdout
    done = _cherga(pad_venv, "provision", "build", "site.yaml", cwd=tmp_path)
    assert done.returncode == 3
    assert "No such command" not in done.stderr
    assert "pip install 'cherga[provisioning]'" in done.stderr


def test_server_on_a_pad_names_the_server_extra(pad_venv: Path, tmp_path: Path) -> None:
    done = _cherga(pad_venv, "server", "--config", "office.yaml", cwd=tmp_path)
    assert done.returncode == 3
    assert "pip install 'cherga[server]'" in done.stderr


def test_a_display_role_on_a_pad_install_exits_3_so_systemd_does_not_loop(pad_venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text("node: display-1\nrole: display\noffice: demo\nbroker: {host: 127.0.0.1, port: 1883}\n"
                      f"data_dir: {tmp_path / 'data'}\n")
    done = _cherga(pad_venv, "node", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "pip install 'cherga[display]'" in done.stderr
    unit = (Path(__file__).resolve().parents[2] / "firmware_host/cherga-display.service").read_text()
    assert "RestartPreventExitStatus=2 3" in unit
