"""The outbox keeps commands across restarts, in order, once per id, until answered or expired."""

from __future__ import annotations

from pathlib import Path

from cherga.firmware_host.outbox import Outbox


def test_entries_survive_reopening_in_order_with_their_bytes(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put("a", "kiosk_offline", "t/a", b'{"id":"a"}', ttl_s=60)
    box.put("b", "counter_command", "t/b", b'{"id":"b"}', ttl_s=60)
    box.put("a", "kiosk_offline", "t/a", b"changed", ttl_s=60)  # same id: the first is kept
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert [(e.id, e.payload) for e in again.pending()] == [("a", b'{"id":"a"}'), ("b", b'{"id":"b"}')]
    assert again.ack("a") and not again.ack("a")
    assert len(again) == 1 and "b" in again


def test_expired_entries_are_purged_and_reported(tmp_path: Path) -> None:
    now = [100.0]
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: now[0])
    box.put("old", "counter_command", "t", b"{}", ttl_s=10)
    box.put("new", "counter_command", "t", b"{}", ttl_s=1000)
    box.mark_sent("old")
    now[0] += 11
    assert [e.id for e in box.pending()] == ["new"]
    gone = box.purge_expired()
    assert [(e.id, e.attempts) for e in gone] == [("old", 1)]
    assert len(box) == 1
