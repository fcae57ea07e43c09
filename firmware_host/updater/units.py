"""The systemd side of updates on a node: the trial gate in the role's unit, and two timers.

* the role's unit gets ``ExecStartPre=+-/usr/bin/python3 /opt/cherga/cherga-slots.py gate ...``: every
  start (systemd restarts a crashing release every ``RestartSec``) first rolls back a trial whose
  time is up, so the start that follows runs the previous release ("+": as root, which may rename
  ``current``; "-": a node without the A/B layout still starts);
* ``cherga-trial.timer`` (every minute) runs ``check --unit``: a release that hangs without
  crashing is rolled back too, and the role restarted;
* ``cherga-update.timer`` (hourly, spread over ten minutes so a hall's nodes do not all ask at
  once) runs ``cherga update`` from the current release.

Provisioning writes these onto the card (:mod:`provisioning.bundle`); docs/updates.md shows them.
"""

from __future__ import annotations

AB_ROOT = "/opt/cherga"
HEALTH_FILE = "/var/lib/cherga/health.json"
SYSTEM_PYTHON = "/usr/bin/python3"
TRIAL_MIN = 10


def gate_line(*, root: str = AB_ROOT, health: str = HEALTH_FILE) -> str:
    return f"ExecStartPre=+-{SYSTEM_PYTHON} {root}/cherga-slots.py gate --root {root} --health {health}"


def with_gate(unit: str, *, root: str = AB_ROOT, health: str = HEALTH_FILE) -> str:
    """The role's unit text with the trial gate before its ``ExecStart``."""
    head, sep, tail = unit.partition("\nExecStart=")
    if not sep:
        raise ValueError("the unit has no ExecStart line")
    return f"{head}\n# Roll back an update on trial whose time is up before starting (docs/updates.md).\n" \
           f"{gate_line(root=root, health=health)}{sep}{tail}"


def update_units(role: str, config_path: str, *, root: str = AB_ROOT, health: str = HEALTH_FILE,
                 trial_min: int = TRIAL_MIN) -> dict[str, str]:
    """File name -> text of the trial and update services and their timers for a node of ``role``."""
    unit = f"cherga-{role}.service"
    return {
        "cherga-trial.service": f"""# Cherga: settle an update on trial (commit when healthy, else roll back). docs/updates.md
[Unit]
Description=Cherga update trial check

[Service]
Type=oneshot
ExecStart={SYSTEM_PYTHON} {root}/cherga-slots.py check --root {root} --health {health} --unit {unit}
""",
        "cherga-trial.timer": """[Unit]
Description=Cherga update trial check, every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=10s

[Install]
WantedBy=timers.target
""",
        "cherga-update.service": f"""# Cherga: install the newest signed release for this node, on trial. docs/updates.md
[Unit]
Description=Cherga signed update
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={root}/current/bin/cherga update --config {config_path} --root {root} --trial-min {trial_min} --restart "systemctl restart {unit}"
""",
        "cherga-update.timer": """[Unit]
Description=Cherga signed update, hourly

[Timer]
OnBootSec=15min
OnUnitActiveSec=1h
RandomizedDelaySec=10min

[Install]
WantedBy=timers.target
""",
    }
