"""The region file (server/region/regionfile.py): the example loads, and each mistake a regional
administrator can make stops the load with one line that names the file and what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cherga.server.region.regionfile import RegionFileError, load_region

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "region"


@pytest.fixture
def region_dir(tmp_path: Path) -> Path:
    """A copy of examples/region to spoil."""
    out = tmp_path / "region"
    shutil.copytree(EXAMPLE, out)
    return out


def _edit(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _refusal(path: Path) -> str:
    with pytest.raises(RegionFileError) as info:
        load_region(path)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(str(path)), message
    return message


def test_the_example_region_loads_with_each_office_config() -> None:
    region = load_region(EXAMPLE / "region.yaml")
    assert list(region.configs) == ["kr-central", "kr-north", "kr-mobile"]
    assert [c.office.id for c in region.served_here] == ["kr-central"]
    assert region.office("kr-mobile").mobile_of == "kr-central"
    assert region.office("kr-north").address.uk == "просп. Металургів, 28"
    # the network compares the same services at every office
    services = [{s.id for s in c.services} for c in region.configs.values()]
    assert services[0] == services[1] == services[2]


def test_an_unknown_mobile_of_is_refused(region_dir: Path) -> None:
    _edit(region_dir / "region.yaml", lambda d: d["offices"][2].update(mobile_of="kr-south"))
    message = _refusal(region_dir / "region.yaml")
    assert "mobile_of 'kr-south' is not an office of this region" in message


def test_a_config_of_another_office_is_refused(region_dir: Path) -> None:
    _edit(region_dir / "region.yaml", lambda d: d["offices"][1].update(config="kr-central.yaml"))
    message = _refusal(region_dir / "region.yaml")
    assert "office 'kr-north'" in message and "is the config of office 'kr-central'" in message


def test_mobile_numbering_that_meets_the_home_office_is_refused(region_dir: Path) -> None:
    # the bus's walk-in numbers now start at 500, inside kr-central's walk-in 1-599 (same prefix A)
    _edit(region_dir / "kr-mobile.yaml", lambda d: d["numbering"]["walk_in"].update(first=500))
    message = _refusal(region_dir / "region.yaml")
    assert "office 'kr-mobile'" in message
    assert "numbering.walk_in 500-919 of 'kr-mobile' meets numbering.walk_in 1-599 of 'kr-central'" in message


def test_an_office_id_given_twice_is_refused(region_dir: Path) -> None:
    _edit(region_dir / "region.yaml", lambda d: d["offices"].append(dict(d["offices"][1])))
    message = _refusal(region_dir / "region.yaml")
    assert "office id given twice: kr-north" in message


def test_a_broken_office_config_is_named(region_dir: Path) -> None:
    _edit(region_dir / "kr-north.yaml", lambda d: d["office"].update(timezone="Europe/Nowhere"))
    message = _refusal(region_dir / "region.yaml")
    assert "office 'kr-north'" in message and "kr-north.yaml" in message and "Europe/Nowhere" in message
