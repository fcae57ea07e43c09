"""The site configuration: examples validate, and a technician's mistake is named by line and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cherga.server.siteconfig import ConfigError, load_site_config, parse_site_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

MINIMAL = """\
office:
  id: tiny
  names: {uk: Тест}
services:
  - id: passport
    prefix: A
    names: {uk: Паспорт}
counters:
  - {id: c1, number: "1", services: [passport]}
"""


# Site configurations are the examples with an office; others (demand profiles) have their own tests.
SITE_EXAMPLES = sorted(p for p in EXAMPLES.glob("*.yaml") if "office" in (yaml.safe_load(p.read_text(encoding="utf-8")) or {}))


@pytest.mark.parametrize("path", SITE_EXAMPLES, ids=lambda p: p.name)
def test_every_shipped_example_validates(path: Path) -> None:
    cfg = load_site_config(path)
    assert cfg.services and cfg.counters


def test_the_shipped_site_examples_are_found() -> None:
    assert {"demo-office.yaml", "kryvyi-rih.yaml"} <= {p.name for p in SITE_EXAMPLES}


def test_demo_office_has_the_promised_shape() -> None:
    cfg = load_site_config(EXAMPLES / "demo-office.yaml")
    front = [c for c in cfg.counters if not c.back_office]
    back = [c for c in cfg.counters if c.back_office]
    assert len(cfg.services) == 12 and len(front) == 10 and len(back) == 2
    assert set(cfg.office.languages) == {"uk", "ru", "ky", "kk", "en"}


def test_a_minimal_office_takes_defaults() -> None:
    cfg = parse_site_config(MINIMAL)
    assert cfg.no_show.recalls == 2
    assert cfg.numbering.walk_in.first == 1
    assert cfg.counter("c1").weight_for("passport") == 1.0


def test_an_unknown_service_on_a_counter_is_named_with_its_line() -> None:
    text = MINIMAL.replace("services: [passport]", "services: [pasport]")
    with pytest.raises(ConfigError) as err:
        parse_site_config(text, "office.yaml")
    message = str(err.value)
    assert "pasport" in message and "office.yaml:" in message


def test_a_bad_field_is_named_by_path_and_line() -> None:
    text = MINIMAL.replace("prefix: A", "prefix: a1")
    with pytest.raises(ConfigError) as err:
        parse_site_config(text, "office.yaml")
    assert "office.yaml:6: services.0.prefix" in str(err.value)


def test_a_ukrainian_office_must_offer_ukrainian() -> None:
    text = MINIMAL.replace("names: {uk: Тест}", "names: {en: Test}\n  languages: [en]")
    with pytest.raises(ConfigError, match="Ukrainian"):
        parse_site_config(text)


def test_overlapping_number_ranges_are_refused() -> None:
    text = MINIMAL + "numbering:\n  walk_in: {first: 1, last: 800}\n"
    with pytest.raises(ConfigError, match="overlap"):
        parse_site_config(text)


def test_broken_yaml_says_so() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_site_config("office: [unclosed", "x.yaml")


def test_config_check_command_reports_ok_and_errors(tmp_path: Path) -> None:
    good = subprocess.run([sys.executable, "-m", "cherga", "config", "check", str(EXAMPLES / "demo-office.yaml")],
                          capture_output=True, text=True)
    assert good.returncode == 0 and "OK" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("number: \"1\"", "number: \"\""))
    res = subprocess.run([sys.executable, "-m", "cherga", "config", "check", str(bad)], capture_output=True, text=True)
    assert res.returncode == 1 and "counters.0.number" in res.stderr


def test_an_office_open_until_midnight_is_open_at_23_59_50() -> None:
    import datetime as dt

    text = MINIMAL + "hours:\n  days:\n    mon: [{start: \"00:00\", end: \"24:00\"}]\n"
    cfg = parse_site_config(text)
    monday_late = dt.datetime(2026, 3, 2, 23, 59, 50)
    assert cfg.hours.is_open(monday_late)
    assert not cfg.hours.is_open(monday_late + dt.timedelta(seconds=11))  # Tuesday is not configured


def test_a_time_past_midnight_is_refused() -> None:
    text = MINIMAL + "hours:\n  days:\n    mon: [{start: \"08:00\", end: \"24:30\"}]\n"
    with pytest.raises(ConfigError, match="not a time of day"):
        parse_site_config(text)


def test_config_check_refuses_a_booked_range_that_cannot_hold_a_days_bookings() -> None:
    """Issue 20: 150 booked numbers ran out; the check now names the size a full day of bookings needs."""
    # 08:00-18:00, 15-minute slots, 4 visitors a slot: 160 bookings a day, 150 booked numbers.
    text = MINIMAL + ("hours: {days: {mon: [{start: \"08:00\", end: \"18:00\"}]}}\n"
                      "appointments: {per_slot: 4}\n"
                      "numbering:\n  walk_in: {first: 1, last: 799}\n  booked: {first: 800, last: 949}\n"
                      "  offline: {first: 950, last: 999}\n")
    with pytest.raises(ConfigError) as exc:
        parse_site_config(text)
    assert "160 bookings a day" in str(exc.value) and "800..949 holds 150" in str(exc.value)
    ok = parse_site_config(text.replace("per_slot: 4", "per_slot: 3"))
    assert ok.bookings_per_day("passport") == 120
