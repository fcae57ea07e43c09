"""Telemetry reports what the node can read and the role's health, flat."""

from __future__ import annotations

from pathlib import Path

from cherga.firmware_host.telemetry import Heartbeat, cpu_temp_c


def test_the_cpu_zone_is_preferred_and_read_in_celsius(tmp_path: Path) -> None:
    for name, kind, milli in [("thermal_zone0", "acpitz", "30000"), ("thermal_zone1", "cpu-thermal", "51234")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "type").write_text(kind + "\n")
        (tmp_path / name / "temp").write_text(milli + "\n")
    assert cpu_temp_c(tmp_path) == 51.2


def test_no_thermal_zone_means_unknown_not_an_error(tmp_path: Path) -> None:
    assert cpu_temp_c(tmp_path) is None


def test_a_heartbeat_carries_uptime_disk_memory_outbox_and_flat_role_health(tmp_path: Path) -> None:
    t = [10.0]
    hb = Heartbeat("k1", "kiosk", tmp_path / "not-yet-created", clock=lambda: t[0], thermal_root=tmp_path)
    t[0] += 42.5
    tel = hb.telemetry({"printer": "paper_out", "queue": 3, "detail": {"nested": 1}}, outbox=2)
    assert tel.uptime_s == 42.5 and tel.outbox == 2
    assert tel.disk_free_mb is not None and tel.disk_free_mb > 0
    assert tel.rss_mb is not None and tel.rss_mb > 1
    assert tel.health == {"printer": "paper_out", "queue": 3, "detail": "{'nested': 1}"}
    assert tel.to_bytes().startswith(b"{")
