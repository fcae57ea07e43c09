"""Serial ports by path / USB id / auto / registered name, the pin factory choice, audio output."""

from __future__ import annotations

import os
from typing import Any

import pytest

from cherga.firmware_host import hardware
from cherga.firmware_host.hardware import HardwareError, SerialPortInfo

PORTS = [SerialPortInfo("/dev/ttyAMA0", None, None, "Pi UART", None),
         SerialPortInfo("/dev/ttyUSB0", 0x0403, 0x6001, "FT232R", "A1"),
         SerialPortInfo("/dev/ttyUSB1", 0x1A86, 0x7523, "CH340", None)]


def test_a_port_is_found_by_usb_id_and_a_missing_one_named() -> None:
    assert hardware.resolve_serial_port("usb:1a86:7523", PORTS) == "/dev/ttyUSB1"
    assert hardware.resolve_serial_port("/dev/ttyS3", PORTS) == "/dev/ttyS3"
    with pytest.raises(HardwareError, match="0403:6015"):
        hardware.resolve_serial_port("usb:0403:6015", PORTS)


def test_auto_needs_exactly_one_usb_adapter() -> None:
    assert hardware.resolve_serial_port("auto", PORTS[:2]) == "/dev/ttyUSB0"
    with pytest.raises(HardwareError, match="found 2"):
        hardware.resolve_serial_port("auto", PORTS)


def test_a_registered_factory_answers_for_its_own_name_first() -> None:
    made: list[Any] = []

    def virtual(spec: str, baudrate: int, **kw: Any) -> Any:
        if spec != "VIRTUAL":
            return None
        made.append((spec, baudrate))
        return "a virtual board"

    hardware.register_serial_factory(virtual)
    try:
        assert hardware.open_serial("VIRTUAL", 19200) == "a virtual board"
        assert made == [("VIRTUAL", 19200)]
    finally:
        hardware.unregister_serial_factory(virtual)


def test_a_pseudo_terminal_opens_as_a_real_serial_port() -> None:
    master, slave = os.openpty()
    port = hardware.open_serial(os.ttyname(slave), 9600)
    try:
        port.write(b"\x1b@")
        assert os.read(master, 2) == b"\x1b@"
    finally:
        port.close()
        os.close(master)
        os.close(slave)


def test_the_pin_factory_is_mock_in_tests_and_lgpio_on_a_pi_5() -> None:
    from gpiozero.pins.mock import MockFactory

    assert isinstance(hardware.pin_factory(), MockFactory)  # GPIOZERO_PIN_FACTORY=mock (conftest)
    assert hardware.pin_factory_name(None, env={}, model="Raspberry Pi 5 Model B Rev 1.0") == "lgpio"
    assert hardware.pin_factory_name(None, env={}, model="Raspberry Pi 4 Model B Rev 1.5") is None
    assert hardware.pin_factory_name("lgpio", env={"GPIOZERO_PIN_FACTORY": "mock"}) == "mock"


def test_audio_goes_to_the_configured_alsa_device_unless_tests_silence_it() -> None:
    env: dict[str, str] = {}
    assert hardware.select_audio_output("hw:1,0", env=env) == "hw:1,0"
    assert env["AUDIODEV"] == "hw:1,0" and env["ALSA_CARD"] == "1"
    assert hardware.select_audio_output("hw:1,0", env={"SDL_AUDIODRIVER": "dummy"}) == "dummy"
