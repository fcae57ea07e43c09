"""The wheelhouse a card carries: Cherga and every dependency as arm64 wheels, for each Pi OS Python.

Owns the pip command lines (``cherga provision wheels`` runs them, the docs show them):

* ``cherga`` itself is not on the package index, so its wheel is built first into the wheelhouse
  and ``pip download`` finds it there (``--find-links``); without that pip answers
  "No matching distribution found for cherga[...]".
* Raspberry Pi OS Bookworm has Python 3.11 (glibc 2.36), Trixie Python 3.13 (glibc 2.41): a wheel
  of a compiled package is made per Python version, so the wheelhouse gathers both.
* ``--platform`` is not widened by pip for ``manylinux_2_X`` tags (only for ``manylinux2014``), so
  every glibc level up to the Pi OS's own is named: with ``manylinux2014_aarch64`` alone pip picks
  an old Pillow and finds no lgpio (its wheel is ``manylinux_2_34``).
* lgpio (the ``pi5`` extra) has no wheel for Python 3.13; there it is left out of the download:
  Raspberry Pi OS's ``python3-lgpio`` serves (the node's venv sees the system's packages).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One Raspberry Pi OS release's Python."""

    python: str  # "3.11"
    glibc: int  # the minor version of glibc 2.x on that release
    release: str
    extras_without: tuple[str, ...] = ()  # extras with no wheel for this Python


TARGETS: dict[str, Target] = {
    "3.11": Target("3.11", 36, "Bookworm"),
    "3.13": Target("3.13", 41, "Trixie", extras_without=("pi5",)),
}
DEFAULT_PYTHONS = ("3.11", "3.13")
DEFAULT_EXTRAS = ("kiosk", "display", "pad", "pi5")
OLDEST_GLIBC = 17  # manylinux2014


def platforms(glibc: int, arch: str = "aarch64") -> list[str]:
    """Every manylinux tag a system with glibc 2.``glibc`` installs, newest first."""
    return [f"manylinux_2_{v}_{arch}" for v in range(glibc, OLDEST_GLIBC - 1, -1)] + [f"manylinux2014_{arch}"]


def source_version(source: Path) -> str:
    """The version in a Cherga checkout's ``pyproject.toml``."""
    try:
        project = tomllib.loads((source / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{source} is not a Cherga checkout (no readable pyproject.toml): {exc}") from exc
    if project.get("name") != "cherga":
        raise ValueError(f"{source}/pyproject.toml is not Cherga's (name {project.get('name')!r})")
    return str(project["version"])


def commands(out: Path, source: Path, *, pythons: Iterable[str] = DEFAULT_PYTHONS,
             extras: Sequence[str] = DEFAULT_EXTRAS, pip: Sequence[str] = ("python3", "-m", "pip")) -> list[list[str]]:
    """The pip commands that fill ``out``: the Cherga wheel from ``source`` (a checkout), then per Python
    every dependency for arm64, with ``pip`` itself (Raspberry Pi OS's Python may lack ensurepip).

    The requirement is pinned to the checkout's version, so a same-named project on the index is never taken."""
    version_pin = source_version(source)
    cmds = [[*pip, "wheel", "--no-deps", "-w", str(out), str(source)]]
    for python in pythons:
        if python not in TARGETS:
            raise ValueError(f"Python {python}: not a Raspberry Pi OS Python (one of {', '.join(TARGETS)})")
        target = TARGETS[python]
        wanted = [e for e in extras if e not in target.extras_without]
        cmd = [*pip, "download", "--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
        for tag in platforms(target.glibc):
            cmd += ["--platform", tag]
        cmd += ["--find-links", str(out), "-d", str(out), (f"cherga[{','.join(wanted)}]" if wanted else "cherga") + f"=={version_pin}", "pip"]
        cmds.append(cmd)
    return cmds
