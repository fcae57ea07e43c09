"""``cherga config check`` names every problem of a file at once, each at its own YAML line (issue 18)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cherga.server.siteconfig import ConfigError, parse_site_config, validate_site_data

# Line numbers matter below: each problem is planted on a line of its own.
BROKEN = """\
office:
  id: tiny
  names: {uk: Тест, ru: Тест}
  languages: [uk, ru]
services:
  - id: passport
    prefix: A
    names: {uk: Паспорт}
  - id: pension
    prefix: A
    names: {uk: Пенсія, ru: Пенсия}
  - id: subsidy
    prefix: s1
    names: {uk: Субсидія, ru: Субсидия}
counters:
  - id: c1
    number: "1"
    services: [passport, pension]
  - id: c2
    number: "1"
    services: [pasport, subsidy]
numbering:
  walk_in: {first: 1, last: 800}
hours:
  days:
    mon: [{start: "8:00", end: "18:00"}]
"""

EXPECTED = [
    (8, "services.0.names.ru", "no ru text"),
    (10, "services.1.prefix", "prefix 'A' is already used by service 'passport'"),
    (13, "services.2.prefix", "should match pattern"),
    (20, "counters.1.number", "counter number '1' is already used by counter 'c1'"),
    (21, "counters.1.services.0", "unknown service 'pasport'"),
    (23, "numbering.booked", "number ranges walk_in and booked overlap"),
    (26, "hours.days.mon.0", "must look like HH:MM"),
]


def _lines(message: str) -> list[str]:
    return message.splitlines()


def test_every_problem_is_reported_at_once_each_at_its_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_site_config(BROKEN, "office.yaml", complete_languages=True)
    lines = _lines(str(err.value))
    assert len(lines) == len(EXPECTED), "\n".join(lines)
    for line, (number, field, words) in zip(lines, EXPECTED, strict=True):
        assert line.startswith(f"office.yaml:{number}: {field}: "), line
        assert words in line, line


def test_the_report_is_stable_from_run_to_run() -> None:
    reports = set()
    for _ in range(3):
        with pytest.raises(ConfigError) as err:
            parse_site_config(BROKEN, "office.yaml", complete_languages=True)
        reports.add(str(err.value))
    assert len(reports) == 1


def test_a_duplicate_prefix_is_refused_even_when_everything_else_is_right() -> None:
    text = BROKEN.replace("prefix: s1", "prefix: S").replace("services: [pasport, subsidy]", "services: [subsidy]")
    text = text.replace('number: "1"\n    services: [subsidy]', 'number: "2"\n    services: [subsidy]')
    text = text.replace("walk_in: {first: 1, last: 800}", "walk_in: {first: 1, last: 600}")
    text = text.replace('"8:00"', '"08:00"').replace("names: {uk: Паспорт}", "names: {uk: Паспорт, ru: Паспорт}")
    with pytest.raises(ConfigError) as err:
        parse_site_config(text, "office.yaml", complete_languages=True)
    assert str(err.value) == ("office.yaml:10: services.1.prefix: prefix 'A' is already used by service 'passport': "
                              "two citizens would hold the same number")
    fixed = parse_site_config(text.replace("    prefix: A\n    names: {uk: Пенсія", "    prefix: P\n    names: {uk: Пенсія"),
                              complete_languages=True)
    assert [s.prefix for s in fixed.services] == ["A", "P", "S"]


def test_a_counter_of_an_unknown_service_is_named_at_the_counters_line_not_the_top() -> None:
    with pytest.raises(ConfigError) as err:
        parse_site_config(BROKEN, "office.yaml")
    assert "office.yaml:21: counters.1.services.0: counter 'c2' names unknown service 'pasport'" in str(err.value)


def test_languages_are_required_in_every_name_only_when_asked() -> None:
    text = BROKEN.split("counters:")[0].replace("prefix: A\n    names: {uk: Пенсія", "prefix: P\n    names: {uk: Пенсія")
    text = text.replace("prefix: s1", "prefix: S") + "counters:\n  - {id: c1, number: '1', services: [passport, pension, subsidy]}\n"
    assert parse_site_config(text).service("passport").names.ru is None  # a server still starts
    _, problems = validate_site_data(__import__("yaml").safe_load(text), complete_languages=True)
    assert [(p.loc, p.key) for p in problems] == [(("services", 0, "names", "ru"), "name_missing")]


def test_a_booked_range_too_small_for_the_booking_capacity_is_named_at_the_service() -> None:
    text = """\
office: {id: tiny, names: {uk: Тест}}
services:
  - {id: passport, prefix: A, names: {uk: Паспорт}, booking_per_slot: 4}
counters:
  - {id: c1, number: "1", services: [passport]}
hours: {days: {mon: [{start: "08:00", end: "18:00"}]}}
numbering: {walk_in: {first: 1, last: 799}, booked: {first: 800, last: 949}, offline: {first: 950, last: 999}}
"""
    with pytest.raises(ConfigError) as err:
        parse_site_config(text, "o.yaml")
    assert str(err.value).startswith("o.yaml:3: services.0.booking_per_slot: service 'passport' takes up to 160 "
                                     "bookings a day, but numbering.booked 800..949 holds 150 numbers")


def test_the_command_prints_every_problem_and_their_count(tmp_path: Path) -> None:
    bad = tmp_path / "office.yaml"
    bad.write_text(BROKEN, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "cherga", "config", "check", str(bad)], capture_output=True, text=True)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines[-1] == f"{bad}: {len(EXPECTED)} problems"
    assert [line.split(": ")[0] for line in lines[:-1]] == [f"{bad}:{n}" for n, _, _ in EXPECTED]


def test_a_public_holiday_closes_the_office_and_its_booking_slots() -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from cherga.server.core.booking import day_grid

    text = """\
office: {id: tiny, names: {uk: Тест}}
services:
  - {id: passport, prefix: A, names: {uk: Паспорт}}
  - {id: pension, prefix: P, names: {uk: Пенсія}, hours: {days: {mon: [{start: "09:00", end: "12:00"}]}}}
counters:
  - {id: c1, number: "1", services: [passport, pension]}
hours:
  days: {mon: [{start: "08:00", end: "18:00"}]}
  holidays: [2026-03-09]
"""
    cfg = parse_site_config(text)
    kyiv = ZoneInfo("Europe/Kyiv")
    monday, holiday = dt.date(2026, 3, 2), dt.date(2026, 3, 9)
    assert cfg.service_open("passport", dt.datetime(2026, 3, 2, 10, tzinfo=kyiv))
    assert not cfg.service_open("passport", dt.datetime(2026, 3, 9, 10, tzinfo=kyiv))
    assert not cfg.service_open("pension", dt.datetime(2026, 3, 9, 10, tzinfo=kyiv))  # its own hours too
    assert day_grid(cfg.hours_of("pension"), monday, kyiv, 15) and not day_grid(cfg.hours_of("pension"), holiday, kyiv, 15)
