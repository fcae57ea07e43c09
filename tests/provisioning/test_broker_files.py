"""The broker files on a Debian broker host: installed as the technician is told, the stock Mosquitto starts with them.

Debian's Mosquitto reads its stock ``/etc/mosquitto/mosquitto.conf`` (persistence, its location, the log,
``include_dir conf.d``) and drops from root to the user ``mosquitto`` before it reads the password and ACL
files. The test builds that layout in a temporary folder, runs the generated ``install.sh`` as root and starts
the real ``mosquitto`` binary the way systemd does (as root, dropping to ``mosquitto``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cherga.provisioning.cli import app
from tests.provisioning.conftest import try_connect, two_free_ports
from tests.support.wait import wait_until

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"

#: Debian bookworm's /etc/mosquitto/mosquitto.conf, its paths moved under the test's folder.
STOCK_CONF = """\
# Place your local configuration in /etc/mosquitto/conf.d/
pid_file {root}/run/mosquitto.pid

persistence true
persistence_location {root}/lib/

log_dest file {root}/log/mosquitto.log

include_dir {root}/etc/conf.d
"""


@pytest.fixture
def broker_host() -> Iterator[Path]:
    """A folder the user ``mosquitto`` can walk into (pytest's tmp_path is root-only 0700)."""
    if os.geteuid() != 0:
        pytest.skip("installing files owned by mosquitto needs root")
    try:
        mosq = pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no user mosquitto (apt-get install mosquitto)")
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    root = Path(tempfile.mkdtemp(prefix="cherga-broker-host-", dir="/tmp"))
    root.chmod(0o755)
    for sub in ("run", "lib", "log"):
        (root / sub).mkdir()
        os.chown(root / sub, mosq.pw_uid, mosq.pw_gid)
    (root / "etc" / "conf.d").mkdir(parents=True)
    (root / "etc" / "mosquitto.conf").write_text(STOCK_CONF.format(root=root))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.mosquitto
def test_installed_broker_files_start_debians_stock_mosquitto_and_let_the_nodes_in(
        tmp_path: Path, broker_host: Path, inventory_file: Callable[..., Path]) -> None:
    port, tls_port = two_free_ports()
    inv = inventory_file(port=port, tls_port=tls_port)
    state = tmp_path / "state"
    made = CliRunner().invoke(app, ["bundle", str(inv), "kiosk-1", "--state-dir", str(state)])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(app, ["server", str(inv), "--state-dir", str(state),
                                      "--mosquitto-dir", str(broker_host / "etc")])
    assert result.exit_code == 0, result.output
    assert "install.sh" in result.output  # the technician is told what to run on the broker host

    # What the technician does: copy the folder to the broker host, run install.sh as root there.
    copied = broker_host / "from-laptop"
    shutil.copytree(state / "server", copied)
    install = subprocess.run(["sh", str(copied / "install.sh"), "--no-restart"], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr

    passwd = broker_host / "etc" / "cherga" / "passwd"
    st = passwd.stat()
    assert pwd.getpwuid(st.st_uid).pw_name == "mosquitto"
    assert not st.st_mode & stat.S_IROTH, "the password hashes are readable by every user"
    assert (broker_host / "etc" / "conf.d" / "cherga.conf").exists()

    proc = subprocess.Popen([MOSQUITTO, "-c", str(broker_host / "etc" / "mosquitto.conf")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = broker_host / "log" / "mosquitto.log"

    def why() -> str:
        out = proc.stdout.read() if proc.poll() is not None and proc.stdout else ""
        return out + (log.read_text() if log.exists() else "")

    try:
        creds = yaml.safe_load((copied / "server-credentials.yaml").read_text())
        wait_until(lambda: proc.poll() is not None or _port_open(port), what="the cherga listener")
        assert proc.poll() is None, f"Mosquitto stopped: {why()}"
        assert try_connect(port, creds["username"], creds["password"]), why()
        assert not try_connect(port, creds["username"], "wrong"), "a wrong password got in"
        # The nodes' TLS listener: the user mosquitto reads the installed key, certificate and CRL.
        kiosk = state / "bundles" / "kiosk-1"
        wait_until(lambda: proc.poll() is not None or _port_open(tls_port), what="the TLS listener")
        assert try_connect(tls_port, "prov-test.kiosk-1", (kiosk / "mqtt-password").read_text().strip(),
                           tls=kiosk / "tls", ca=kiosk / "tls" / "ca.crt"), why()
    finally:
        proc.terminate()
        proc.wait(10)
    # Debian's own persistence stayed in force: the broker saved its state where the stock file says.
    assert (broker_host / "lib" / "mosquitto.db").exists(), why()


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
