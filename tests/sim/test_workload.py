"""The workload CSV format and the day generator, calibrated to the Kryvyi Rih figures."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from pathlib import Path

import pytest

from cherga.server.sim.workload import (
    HEADER,
    demand_beside,
    generate,
    read_csv,
    visitors_per_day,
    write_csv,
)
from cherga.server.siteconfig import load_site_config
from tests.conftest import EXAMPLES

KR = EXAMPLES / "kryvyi-rih.yaml"


def test_kryvyi_rih_example_has_the_published_size_and_three_languages() -> None:
    cfg = load_site_config(KR)
    assert len(cfg.services) == 24
    assert len(cfg.counters) == 118
    assert any(c.back_office for c in cfg.counters)
    for s in cfg.services:
        assert s.names.uk and s.names.ru and s.names.en


def test_open_days_of_january_to_june_2017_receive_the_published_188378_visitors() -> None:
    cfg, demand = load_site_config(KR), demand_beside(KR)
    day, total, open_days = demand.period_start, 0.0, 0
    while day <= demand.period_end:
        if day not in demand.holidays:
            per_day = visitors_per_day(cfg, demand, day)
            total += per_day
            open_days += per_day > 0
        day += dt.timedelta(days=1)
    assert total == pytest.approx(188_378, abs=1)
    assert 1_500 < total / open_days < 1_600


def test_a_generated_day_follows_the_load_the_peaks_and_the_mix() -> None:
    cfg, demand = load_site_config(KR), demand_beside(KR)
    day = dt.date(2017, 3, 14)
    one = generate(cfg, demand, seed=11, load=1.0)
    two = generate(cfg, demand, seed=11, load=2.0)
    assert len(one) == pytest.approx(visitors_per_day(cfg, demand, day), rel=0.06)
    assert len(two) == pytest.approx(2 * visitors_per_day(cfg, demand, day), rel=0.06)
    by_hour = Counter(int(v.arrival_s // 3600) for v in two if v.appointment_s is None)
    assert by_hour[2] > 1.5 * by_hour[0]  # 10:00 morning peak over the 08:00 opening hour
    assert by_hour[6] > by_hour[5]  # after-lunch peak
    residence = sum(v.service.startswith("residence") for v in two) / len(two)
    assert residence == pytest.approx(0.42, abs=0.03)
    assert sum(v.appointment_s is not None for v in two) / len(two) == pytest.approx(0.15, abs=0.03)
    assert sum(v.priority is not None for v in two) / len(two) == pytest.approx(0.07, abs=0.02)
    means = [v.service_s for v in two if v.service == "property"]
    assert sum(means) / len(means) == pytest.approx(20 * 60, rel=0.15)


def test_the_same_seed_writes_the_same_file_and_it_reads_back(tmp_path: Path) -> None:
    cfg, demand = load_site_config(KR), demand_beside(KR)
    a = write_csv(generate(cfg, demand, seed=3, load=1.5), tmp_path / "a.csv")
    b = write_csv(generate(cfg, demand, seed=3, load=1.5))
    assert a == b
    assert a.splitlines()[0] == ",".join(HEADER)
    back = read_csv(tmp_path / "a.csv", cfg)
    assert write_csv(back) == a
    assert write_csv(generate(cfg, demand, seed=4, load=1.5)) != a


def test_a_workload_naming_an_unknown_service_is_refused_with_its_line() -> None:
    cfg = load_site_config(KR)
    text = ",".join(HEADER) + "\n10,residence-reg,submit,,,600,\n20,astrology,consult,,,300,\n"
    with pytest.raises(ValueError, match="line 3: unknown service 'astrology'"):
        read_csv(io.StringIO(text), cfg)
    with pytest.raises(ValueError, match="header"):
        read_csv(io.StringIO("a,b\n1,2\n"), cfg)
