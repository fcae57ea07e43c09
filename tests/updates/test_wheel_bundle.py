"""A release made of wheels is installed as a venv in the slot, offline, by the real updater.

The wheel is a tiny stand-in named ``cherga`` (its own ``cherga`` command prints its version): the
real package and its dependencies would take minutes to install, and the path through venv, pip
and the slot is the same.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from tests.updates.conftest import Node, Office, now

MODULE = """def main() -> None:
    print("{version}")
"""


def build_wheel(tmp: Path, version: str) -> Path:
    """A wheel written by hand (a zip with its dist-info): the venv here has no ``wheel`` to build one."""
    files = {
        "fakecherga.py": MODULE.format(version=version),
        f"cherga-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: cherga\nVersion: {version}\n"
                                                 "Provides-Extra: kiosk\n",
        f"cherga-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                              "Tag: py3-none-any\n",
        f"cherga-{version}.dist-info/entry_points.txt": "[console_scripts]\ncherga = fakecherga:main\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"cherga-{version}.dist-info/RECORD,,")
    files[f"cherga-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    out = tmp / f"wheels-{version}"
    out.mkdir()
    with zipfile.ZipFile(out / f"cherga-{version}-py3-none-any.whl", "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
    return out


def test_a_wheel_release_becomes_a_venv_in_the_other_slot(office: Office, node: Node, tmp_path: Path) -> None:
    wheels = build_wheel(tmp_path, "1.1.0")
    office.repo.add(wheels, "1.1.0", now=now())
    office.repo.publish(office.published)
    outcome = node.update()
    assert outcome["outcome"] == "installed", outcome
    assert node.layout.current() == "slot-b"
    assert (node.root / "slot-b" / "pyvenv.cfg").exists()
    assert node.run_current() == "1.1.0"
    assert node.layout.version() == "1.1.0"
