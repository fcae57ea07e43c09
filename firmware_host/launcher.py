"""The role launcher behind ``cherga node --config FILE``: config → session → role → heartbeat.

:func:`run_node` loads the node config, builds the role by name (:func:`firmware_host.role.load_role`),
starts the MQTT session and the role, tells systemd it is ready, sends a heartbeat every
``heartbeat_s`` seconds (and pings the systemd watchdog) on a background thread, and on SIGTERM or
SIGINT stops the role, then the session (``offline`` retained). A role with a ``run(stop)`` method
gets the main thread (pygame); otherwise the main thread just waits.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cherga.extras import EXIT_MISSING_EXTRA, missing_extra_message, missing_for
from cherga.firmware_host import systemd
from cherga.firmware_host.config import NodeConfig, NodeConfigError, load_node_config
from cherga.firmware_host.enrollment import Enroller
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.role import ROLE_EXTRAS, NodeRole, RoleNotFound, load_role
from cherga.firmware_host.session import NodeSession
from cherga.firmware_host.telemetry import Heartbeat
from cherga.firmware_host.updater.slots import mark_healthy

log = logging.getLogger("cherga.node")

EXIT_OK = 0
EXIT_ROLE_FAILED = 1
EXIT_BAD_CONFIG = 2
EXIT_NO_ROLE = EXIT_MISSING_EXTRA  # the role, or what it needs, is not installed here


def setup_logging(level: str) -> None:
    # Under systemd the journal adds time and unit: keep lines short; in a terminal add the time.
    fmt = "%(levelname)s %(name)s: %(message)s" if systemd.under_systemd() else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=getattr(logging, level), format=fmt, stream=sys.stderr)


class NodeRunner:
    """One running node. Split from :func:`run_node` so tests can run it in a thread and stop it."""

    def __init__(self, config: NodeConfig, role: NodeRole, *, session: NodeSession | None = None) -> None:
        self.config = config
        self.role = role
        self.session = session or NodeSession(config, outbox=Outbox(config.outbox_path))
        self.stop_event = threading.Event()
        self.heartbeat = Heartbeat(config.node, config.role, config.data_dir)
        # A provisioned node sends its card's one-time token on connecting (no token: nothing to do).
        self.enroller = Enroller(self.session, config)
        self._beats: threading.Thread | None = None
        self._marked_healthy = False

    def send_heartbeat(self) -> None:
        try:
            health = self.role.health()
        except Exception as exc:  # a role's health must never stop the heartbeat
            log.exception("role health failed")
            health = {"health_error": type(exc).__name__}
        self.session.flush_outbox()
        self.session.publish("node_telemetry", self.heartbeat.telemetry(health, self.session.outbox_size))
        if not self._marked_healthy:
            # Connected, birth message out, role started, first heartbeat sent: the A/B trial of a new
            # release (firmware_host.updater.slots) ends here instead of rolling back.
            try:
                mark_healthy(self.config.data_dir, version=self.session.version)
                self._marked_healthy = True
            except OSError:
                log.exception("cannot write the health marker; an update on trial will be rolled back")

    def _beat_loop(self) -> None:
        wd = systemd.watchdog_interval_s()
        period = self.config.heartbeat_s
        tick = min(period, wd) if wd else period
        elapsed = period  # first heartbeat right away
        while not self.stop_event.is_set():
            if wd:
                systemd.watchdog_ping()
            if elapsed >= period:
                elapsed = 0.0
                if self.session.connected:
                    try:
                        self.send_heartbeat()
                    except Exception:
                        log.exception("heartbeat failed")
            self.stop_event.wait(tick)
            elapsed += tick

    def run(self) -> int:
        """Start everything, block until stopped, stop everything. Returns the exit code."""
        self.enroller.attach()
        self.session.start()
        try:
            self.role.start(self.session, self.config)
        except Exception:
            log.exception("role %s failed to start", self.config.role)
            self.session.stop()
            return EXIT_ROLE_FAILED
        systemd.ready(f"{self.config.role} {self.config.node}")
        self._beats = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)
        self._beats.start()
        code = EXIT_OK
        try:
            runner = getattr(self.role, "run", None)
            if callable(runner):
                runner(self.stop_event)
            else:
                self.stop_event.wait()
        except Exception:
            log.exception("role %s crashed", self.config.role)
            code = EXIT_ROLE_FAILED
        finally:
            self.stop_event.set()
            systemd.stopping()
            self.enroller.stop()
            try:
                self.role.stop()
            except Exception:
                log.exception("role %s failed to stop cleanly", self.config.role)
            self.session.close()
        return code

    def stop(self) -> None:
        self.stop_event.set()


def timezone_problem(zone: str | None) -> str | None:
    """Why ``zone`` cannot be used on this machine, or None. zoneinfo itself never falls back, but
    code that catches its error would show UTC times to the hall: a node refuses to start instead."""
    if not zone:
        return None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return (f"time zone {zone!r} is not known on this machine: install the time zone data "
                "(apt-get install tzdata, or pip install tzdata); the node will not show UTC times instead")
    return None


def run_node(config_path: str | Path) -> int:
    """Run this node's role from its config file until SIGTERM/SIGINT. Returns the exit code."""
    try:
        config = load_node_config(config_path)
    except NodeConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_CONFIG
    setup_logging(config.log_level)
    if (problem := timezone_problem(config.timezone)) is not None:
        print(f"{config_path}: {problem}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    extra = ROLE_EXTRAS.get(config.role)
    missing = missing_for(extra) if extra else []
    if extra and missing:  # a display Pi without pygame would crash-loop under systemd otherwise
        log.error("%s", missing_extra_message(f"role {config.role!r}", extra, missing))
        return EXIT_NO_ROLE
    try:
        role = load_role(config.role)()
    except RoleNotFound as exc:
        log.error("%s", exc)
        return EXIT_NO_ROLE
    runner = NodeRunner(config, role)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        runner.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    log.info("node %s (%s) of office %s starting; broker %s:%s", config.node, config.role, config.office,
             config.broker.host, config.broker.port)
    return runner.run()
