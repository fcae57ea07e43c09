"""The paho client of every server-side MQTT party: the office's bridge, and the region's intake,
uplink and config applier. One place for what they all need: MQTT 3.1.1, reconnecting within 1-10 s,
the broker user and TLS they are given, and small packets sent at once (TCP_NODELAY).

Imports only paho, so the region's parts can use it without the bridge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from typing import Any

import paho.mqtt.client as mqtt


@dataclasses.dataclass(frozen=True)
class TlsSettings:
    """What paho's ``tls_set`` needs: the CA that signed the broker, and this client's own pair if the
    broker asks for one. ``insecure`` skips the host name check (a broker reached by address)."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


def _send_at_once(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to each request/response round trip.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def server_client(client_id: str, *, clean_session: bool, username: str | None = None,
                  password: str | None = None, tls: TlsSettings | None = None) -> mqtt.Client:
    """A configured, not yet connected client; the caller adds its callbacks, limits and last will."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                         clean_session=clean_session)
    client.reconnect_delay_set(1, 10)
    if username:
        client.username_pw_set(username, password)
    if tls is not None:
        client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
        client.tls_insecure_set(tls.insecure)
    client.on_socket_open = _send_at_once
    return client
