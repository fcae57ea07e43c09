"""A node's rotated TLS client certificate: checked, kept under its data folder, chosen at start.

Owns ``<data_dir>/tls/``: one folder per certificate received on the ``node_credentials`` route
(``<serial>/node.crt`` and ``node.key``, the key mode 0600) and the symlink ``current`` naming the
one in use. The pair is written into a fresh folder and ``current`` is replaced by one rename, so
a power cut leaves the old pair or the new one, never a certificate beside another's key. The card's
files in ``/etc/cherga/tls`` belong to root and are never rewritten by the node (its service user
cannot), so the rotated pair lives here and :func:`client_pair` picks the newer of the two.

Uses only :mod:`ssl` (a node installs no ``cryptography``): ``load_cert_chain`` proves the key fits
the certificate, a handshake in memory against the site CA proves the CA signed it for a client, and
the standard library's certificate decoder reads its names, serial and dates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import Any

from cherga.broker_bridge.contract import NodeCredentials

CURRENT = "current"


class CredentialsError(ValueError):
    """A certificate the node will not use; the message says why."""


def decode_certificate(path: Path) -> dict[str, Any]:
    """The certificate's fields as :meth:`ssl.SSLSocket.getpeercert` gives them (subject, issuer,
    serialNumber, notBefore, ...); :class:`CredentialsError` when it is no PEM certificate."""
    try:
        decoded: dict[str, Any] = ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise CredentialsError(f"{path.name}: not a PEM certificate ({exc})") from None
    return decoded


def _name(decoded: dict[str, Any], part: str) -> dict[str, str]:
    return {k: v for rdn in decoded.get(part, ()) for k, v in rdn}


def not_before(path: Path) -> float:
    """When the certificate starts to be valid (seconds since the epoch)."""
    return float(ssl.cert_time_to_seconds(decode_certificate(path)["notBefore"]))


def serial_of(path: Path) -> str:
    """The certificate's serial number, lower-case hex without leading zeros (as the contract sends it)."""
    return format(int(decode_certificate(path)["serialNumber"], 16), "x")


def check_pair(cert: Path, key: Path, *, username: str | None, ca_file: Path | None) -> None:
    """Refuse a pair the broker would not take as this node: a key that does not fit, a certificate
    for another name than the node's broker user, or one another CA issued."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as exc:
        raise CredentialsError(f"the key does not fit the certificate ({exc})") from None
    decoded = decode_certificate(cert)
    common_name = _name(decoded, "subject").get("commonName")
    if username is not None and common_name != username:
        raise CredentialsError(f"the certificate names {common_name!r}, this node is {username!r}")
    if ca_file is not None:
        try:
            _handshake(cert, key, ca_file)
        except ssl.SSLError as exc:
            issuer = _name(decoded, "issuer").get("commonName")
            raise CredentialsError(f"the certificate (issued by {issuer!r}) is not one the site CA signed "
                                   f"for a client ({exc.reason or exc})") from None


def _handshake(cert: Path, key: Path, ca_file: Path) -> None:
    """A TLS handshake in memory in which the certificate is the client's and a server trusting only
    the site CA checks it: OpenSSL's own chain and purpose check, the one the broker will make."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(cert), str(key))  # any certificate will do for the server's side
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(cafile=str(ca_file))
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    client_ctx.load_cert_chain(str(cert), str(key))
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done["server"]:
            return
    raise ssl.SSLError("the handshake did not finish")


def rotated_pair(data_dir: Path) -> tuple[Path, Path] | None:
    """The rotated certificate and key in use (``<data_dir>/tls/current``), if any."""
    current = data_dir / "tls" / CURRENT
    cert, key = current / "node.crt", current / "node.key"
    return (cert, key) if cert.is_file() and key.is_file() else None


def client_pair(card: tuple[Path, Path] | None, data_dir: Path, *, username: str | None,
                ca_file: Path | None) -> tuple[Path, Path] | None:
    """The pair to connect with: the rotated one when it is sound and at least as new as the card's
    (a card provisioned again later wins over an older rotation), else the card's."""
    rotated = rotated_pair(data_dir)
    if rotated is None:
        return card
    try:
        check_pair(*rotated, username=username, ca_file=ca_file)
        if card is not None and not_before(rotated[0]) < not_before(card[0]):
            return card
    except CredentialsError:
        return card
    return rotated


def store(credentials: NodeCredentials, data_dir: Path, *, username: str | None,
          ca_file: Path | None) -> tuple[Path, Path]:
    """Check the received pair and make it the one in use; returns (cert, key). The previous
    rotated pairs are removed once ``current`` names the new one."""
    tls = data_dir / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=tls))
    try:
        cert, key = staging / "node.crt", staging / "node.key"
        _write(cert, credentials.cert_pem.encode(), 0o644)
        _write(key, credentials.key_pem.encode(), 0o600)
        check_pair(cert, key, username=username, ca_file=ca_file)
        if serial_of(cert) != credentials.serial.lstrip("0"):
            raise CredentialsError(f"the certificate's serial is {serial_of(cert)}, the message says {credentials.serial}")
        final = tls / credentials.serial
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    link = tls / f".{CURRENT}.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(credentials.serial)
    os.replace(link, tls / CURRENT)  # the one switch
    _fsync_dir(tls)
    for old in tls.iterdir():
        if old.name not in (CURRENT, credentials.serial) and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
    return final / "node.crt", final / "node.key"


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
