"""The kiosk node's memory: `cherga node` must not load the office's tools along with the role.

The real kiosk process measured 83 MB against an 80 MB target, 12 MB of it the staff, enrollment
and provisioning commands (FastAPI, SQLAlchemy, image tools) that a node never runs;
``bench/kiosk_print.py`` measures the real node's peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys

OFFICE_TOOLS = ("cherga.provisioning.cli", "cherga.server.staff_cli", "cherga.server.enrollment_cli", "sqlalchemy",
                "fastapi")


def test_cherga_node_does_not_load_the_office_tools() -> None:
    probe = ("import sys, json; sys.argv = ['cherga', 'node', '--config', 'kiosk.yaml']; import cherga.cli; "
             f"print(json.dumps([m for m in {list(OFFICE_TOOLS)!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_office_tools_are_still_there_for_every_other_command() -> None:
    probe = ("import sys; sys.argv = ['cherga', '--help']; import cherga.cli; "
             "print(sorted(g.name or '' for g in cherga.cli.app.registered_groups))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert "provision" in out.stdout and "staff" in out.stdout
