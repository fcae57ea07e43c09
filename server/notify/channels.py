"""The gateways behind one small interface: ``send(address, text, message_id)``; I/O only.

* :class:`SmsHttp`: any SMS gateway over HTTP; URL, method, auth header and body template come
  from the office's config (``{to}``, ``{text}``, ``{id}`` are filled in and escaped).
* :class:`Email`: SMTP with the standard library (STARTTLS when configured); the outbox id makes
  the ``Message-ID``, so a message sent again after a crash is recognisably the same one.
* :class:`Telegram`: the Bot API's ``sendMessage`` under a configurable base URL.

A gateway that fails raises :class:`DeliveryError`; ``permanent`` means trying again cannot help
(the gateway refused the address or our credentials' shape), otherwise the sender retries with backoff.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from cherga.server.siteconfig import EmailGateway, Notify, SmsGateway, TelegramGateway


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    name: str

    def send(self, address: str, text: str, message_id: str) -> None:
        """Deliver ``text`` to ``address`` or raise :class:`DeliveryError`."""


def _http(req: urllib.request.Request, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the office's configured URL
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode("utf-8", "replace")
        # 4xx but 408/429: the request itself is wrong; 5xx, 408, 429: the gateway may take it later.
        permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
        raise DeliveryError(f"HTTP {exc.code}: {detail}", permanent=permanent) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DeliveryError(f"gateway unreachable: {getattr(exc, 'reason', exc)}") from None


class SmsHttp:
    name = "sms"

    def __init__(self, cfg: SmsGateway) -> None:
        self.cfg = cfg

    def _fill(self, template: str, values: dict[str, str], escape: str) -> str:
        out = template
        for key, value in values.items():
            if escape == "json":
                v = json.dumps(value, ensure_ascii=False)[1:-1]
            elif escape == "url":
                v = urllib.parse.quote(value, safe="")
            else:
                v = urllib.parse.quote_plus(value)
            out = out.replace("{" + key + "}", v)
        return out

    def send(self, address: str, text: str, message_id: str) -> None:
        cfg = self.cfg
        values = {"to": address, "text": text, "id": message_id}
        url = self._fill(cfg.url, values, "url")
        headers = {"User-Agent": "cherga-notify"}
        if cfg.auth_env and (secret := os.environ.get(cfg.auth_env)):
            headers[cfg.auth_header] = secret
        data = None
        if cfg.method == "POST":
            escape = "json" if cfg.content_type == "application/json" else "form"
            data = self._fill(cfg.body, values, escape).encode("utf-8")
            headers["Content-Type"] = f"{cfg.content_type}; charset=utf-8"
        _http(urllib.request.Request(url, data=data, headers=headers, method=cfg.method), cfg.timeout_s)


class Email:
    """SMTP; one connection serves a sender's pass (opening one per message would cap the rate at the
    server's handshake), closed by :meth:`close` at the end of the pass or reopened when it dropped."""

    name = "email"

    def __init__(self, cfg: EmailGateway, *, subject: str = "Cherga") -> None:
        self.cfg = cfg
        self.subject = subject
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
        try:
            if cfg.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username:
                smtp.login(cfg.username, os.environ.get(cfg.password_env or "", ""))
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, address: str, text: str, message_id: str) -> None:
        cfg = self.cfg
        msg = EmailMessage()
        msg["From"] = cfg.sender
        msg["To"] = address
        msg["Subject"] = self.subject
        msg["Message-ID"] = make_msgid(idstring=f"cherga-{message_id}", domain=cfg.sender.rpartition("@")[2])
        msg.set_content(text)
        try:
            for attempt in (1, 2):
                reused = self._smtp is not None
                if self._smtp is None:
                    self._smtp = self._connect()
                try:
                    self._smtp.send_message(msg)
                    return
                except smtplib.SMTPServerDisconnected:
                    self._smtp = None
                    if not reused or attempt == 2:
                        raise  # a fresh connection that drops is the server's failure, not a stale one
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc.recipients}", permanent=True) from None
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"SMTP: {exc}") from None

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


class Telegram:
    name = "telegram"

    def __init__(self, cfg: TelegramGateway) -> None:
        self.cfg = cfg

    def send(self, address: str, text: str, message_id: str) -> None:
        token = os.environ.get(self.cfg.token_env, "")
        url = f"{self.cfg.base_url.rstrip('/')}/bot{token}/sendMessage"
        body = json.dumps({"chat_id": address, "text": text}).encode("utf-8")
        raw = _http(urllib.request.Request(url, data=body, method="POST",
                                           headers={"Content-Type": "application/json"}), self.cfg.timeout_s)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise DeliveryError("Bot API answered something that is not JSON") from None
        if not answer.get("ok"):
            raise DeliveryError(f"Bot API: {answer.get('description', 'not ok')}", permanent=True)


def channels_from_config(cfg: Notify, *, subject: str = "Cherga") -> dict[str, Channel]:
    """The channels this office has a gateway for."""
    out: dict[str, Channel] = {}
    if cfg.sms is not None:
        out["sms"] = SmsHttp(cfg.sms)
    if cfg.email is not None:
        out["email"] = Email(cfg.email, subject=subject)
    if cfg.telegram is not None:
        out["telegram"] = Telegram(cfg.telegram)
    return out
