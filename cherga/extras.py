"""Which pip extra a part of Cherga needs, and the one message a node gives when it is missing.

A Raspberry Pi installs ``cherga[pad]`` or ``cherga[display]``, never everything. A command or a
role whose extra is not installed must say which extra to install, not die with a raw
``ModuleNotFoundError``. The package's own metadata (pyproject's optional dependencies) is the one
list of what each extra brings, so nothing here repeats it.
"""

from __future__ import annotations

import importlib.metadata as md
import re

DISTRIBUTION = "cherga"

# An exit code that tells systemd (RestartPreventExitStatus) and a technician "not installed here":
# restarting cannot help, installing the extra can.
EXIT_MISSING_EXTRA = 3

# Requires-Dist lines read like 'fastapi>=0.110; extra == "server"'; a node has no `packaging` to parse them.
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _requirements_of(extra: str) -> list[str]:
    names = []
    for text in md.distribution(DISTRIBUTION).requires or []:
        spec, _, marker = text.partition(";")
        name = _NAME.match(spec)
        if name and re.search(rf"""extra\s*==\s*['"]{re.escape(extra)}['"]""", marker):
            names.append(name.group(1))
    return names


def _installed(name: str) -> bool:
    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        return False
    return True


def missing_for(extra: str) -> list[str]:
    """The distributions ``cherga[extra]`` names that are not installed here (empty: all there)."""
    try:
        names = _requirements_of(extra)
    except md.PackageNotFoundError:  # running from a checkout that was never installed: cannot tell
        return []
    return sorted({n for n in names if n != DISTRIBUTION and not _installed(n)})


def missing_extra_message(what: str, extra: str, missing: list[str]) -> str:
    """One line a technician can act on: what needs which extra, what is absent, the command to fix it."""
    return (f"{what} needs the '{extra}' extra, which is not installed on this machine (missing: "
            f"{', '.join(missing)}). Install it with: pip install 'cherga[{extra}]'")
