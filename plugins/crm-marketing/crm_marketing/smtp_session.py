"""Handing campaign messages over one at a time, on one persistent connection.

The sender needs more than ``smtplib.SMTP.send_message``: it must be able to stop *just before*
the end of a message. :meth:`SmtpTransport.begin` sends ``MAIL``, ``RCPT``, ``DATA`` and the
dot-stuffed message without the terminating ``CRLF.CRLF``; the caller then records that the
message is being handed over, and :meth:`SmtpTransport.finish` sends the final dot and reads the
server's answer. A server that loses the connection before the dot discards the message
(RFC 5321, section 4.1.1.4), so a message whose sender died before ``finish`` is safely sent
again; one that died after it may have been delivered, and is never sent again.

:class:`FileTransport` follows the same two steps into the file outbox
(``<instance>/outbox/*.eml``) when no SMTP server is configured.

Connections are opened like :func:`crmcore.mail.smtp.deliver` opens them: the instance's
``CRM_SMTP_URL`` parsed by :func:`crmcore.mail.parse_smtp_url`, TLS with the core's verifying
context, AUTH when the URL has a user. Nothing here logs or raises a password.
"""

from __future__ import annotations

import copy
import io
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import EmailMessage
from pathlib import Path

from crmcore.mail import SmtpConfig
from crmcore.mail.outbox import write_to_outbox
from crmcore.mail.smtp import tls_context

_LEADING_DOT = re.compile(rb"(?m)^\.")
CRLF = b"\r\n"


class TransportError(Exception):
    """The connection failed; the message's fate is what the caller's state says."""


class ConnectError(TransportError):
    """The server could not be reached or refused the session: no message was involved."""


@dataclass(frozen=True)
class Reply:
    """An SMTP reply: ``code`` (250, 451, 550...) and its text."""

    code: int
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()[:500]


def message_bytes(message: EmailMessage, utf8: bool = False) -> bytes:
    """The message as sent on the wire: CRLF line ends, no ``Bcc``, not yet dot-stuffed."""
    copied = copy.copy(message)
    del copied["Bcc"]
    del copied["Resent-Bcc"]
    policy = message.policy.clone(linesep="\r\n", utf8=utf8)
    buffer = io.BytesIO()
    BytesGenerator(buffer, policy=policy).flatten(copied, linesep="\r\n")
    return buffer.getvalue()


def dot_stuffed(data: bytes) -> bytes:
    """``data`` with leading dots doubled and ending in CRLF, without the final ``.CRLF``."""
    stuffed = _LEADING_DOT.sub(b"..", data)
    return stuffed if stuffed.endswith(CRLF) else stuffed + CRLF


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class SmtpTransport:
    """One SMTP connection, opened on first use and reopened after a failure."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self.client: smtplib.SMTP | None = None
        self.connections = 0
        #: a message was sent without its final dot
        self.in_data = False

    @property
    def where(self) -> str:
        return self.config.safe_url

    # connection ---------------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection (EHLO, STARTTLS, AUTH); raise :class:`ConnectError`."""
        self.close()
        config = self.config
        client: smtplib.SMTP | None = None
        try:
            if config.tls == "implicit":
                client = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=tls_context(config)
                )
            else:
                client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
            client.ehlo()
            if config.tls == "starttls":
                if not client.has_extn("starttls"):
                    raise ConnectError(f"{self.where} does not offer STARTTLS")
                client.starttls(context=tls_context(config))
                client.ehlo()
            if config.username:
                client.login(config.username, config.password or "")
        except ConnectError:
            _drop(client)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            _drop(client)
            raise ConnectError(
                f"{self.where} refused the login of {config.username!r}: {exc.smtp_code}"
            ) from None
        except smtplib.SMTPResponseException as exc:
            _drop(client)
            raise ConnectError(
                f"{self.where} answered {exc.smtp_code} {_text(exc.smtp_error)[:200]}"
            ) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            _drop(client)
            raise ConnectError(f"cannot connect to {self.where}: {type(exc).__name__}") from None
        except Exception as exc:  # a MailError from tls_context (bad CA file)
            _drop(client)
            raise ConnectError(str(exc)) from None
        _no_delay(client)
        self.client = client
        self.connections += 1

    def close(self) -> None:
        """Say QUIT when possible; forget the connection in any case. In the middle of a
        message, abort it instead (a QUIT there would be part of the message)."""
        if self.in_data:
            self.abort()
            return
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            _drop(client)

    def abort(self) -> None:
        """Abandon the message being sent: close the socket before its final dot, so the
        server discards it."""
        client, self.client = self.client, None
        self.in_data = False
        _drop(client)

    # one message --------------------------------------------------------------------------------

    def begin(self, sender: str, recipient: str, message: EmailMessage) -> Reply | None:
        """Send everything of ``message`` but its end; ``None`` when the server waits for the
        final dot, or the server's refusal (of the sender, the recipient or ``DATA``)."""
        fresh = self.client is None
        if fresh:
            self.connect()
        try:
            return self._begin(sender, recipient, message)
        except _Disconnected:
            if fresh:
                raise ConnectError(f"{self.where} closed the connection") from None
        # an idle connection the server closed: nothing of this message was sent, so reopen
        self.connect()
        try:
            return self._begin(sender, recipient, message)
        except _Disconnected:
            raise ConnectError(f"{self.where} closed the connection") from None

    def _begin(self, sender: str, recipient: str, message: EmailMessage) -> Reply | None:
        client = self.client
        assert client is not None
        international = not (sender.isascii() and recipient.isascii())
        if international and not client.has_extn("smtputf8"):
            return Reply(553, "the server does not take non-ASCII addresses (no SMTPUTF8)")
        data = message_bytes(message, utf8=international)
        options: list[str] = []
        if international:
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        elif not data.isascii() and client.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        try:
            code, text = client.mail(sender, options)
            if code == 421:  # closing: an idle connection timed out
                self.abort()
                raise _Disconnected
            if code != 250:
                return self._refused(code, text)
            code, text = client.rcpt(recipient)
            if code not in (250, 251):
                return self._refused(code, text)
            code, text = client.docmd("DATA")
            if code != 354:
                return self._refused(code, text)
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            self.abort()
            raise _Disconnected from None
        except (smtplib.SMTPException, OSError) as exc:
            self.abort()
            raise TransportError(f"{self.where}: {type(exc).__name__}") from None
        try:
            self.in_data = True
            client.send(dot_stuffed(data))
        except (smtplib.SMTPException, OSError) as exc:
            self.abort()
            raise TransportError(
                f"{self.where}: lost while sending: {type(exc).__name__}"
            ) from None
        return None

    def _refused(self, code: int, text: bytes) -> Reply:
        reply = Reply(code, _text(text))
        if code == 421:  # the server is closing the connection
            self.abort()
            return reply
        try:
            self.client.rset()  # type: ignore[union-attr]
        except (smtplib.SMTPException, OSError):
            self.abort()
        return reply

    def finish(self) -> Reply:
        """Send the final dot and read the server's answer; :class:`TransportError` when the
        connection failed (whether the server took the message is then unknown)."""
        client = self.client
        if client is None:
            raise TransportError("no connection")
        try:
            self.in_data = False
            client.send(b"." + CRLF)
            code, text = client.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self.abort()
            raise TransportError(
                f"{self.where}: lost after the end of data: {type(exc).__name__}"
            ) from None
        if code == 421:
            self.abort()
        return Reply(code, _text(text))


class _Disconnected(Exception):
    pass


def _no_delay(client: smtplib.SMTP) -> None:
    """Send small writes at once. The final dot is a tiny write right after the message; with
    Nagle's algorithm it would wait for the server's delayed ACK (about 40 ms per message)."""
    sock = getattr(client, "sock", None)
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # not a TCP socket
        pass


def _drop(client: smtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        client.close()
    except OSError:
        pass


class FileTransport:
    """The file outbox, in the same two steps: ``finish`` writes the file (atomically)."""

    where = "the file outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pending: EmailMessage | None = None

    def begin(self, sender: str, recipient: str, message: EmailMessage) -> Reply | None:
        self._pending = message
        return None

    def finish(self) -> Reply:
        message, self._pending = self._pending, None
        if message is None:
            raise TransportError("no message")
        try:
            path = write_to_outbox(self.folder, message)
        except OSError as exc:
            raise TransportError(f"cannot write to the outbox: {type(exc).__name__}") from None
        return Reply(250, f"written to {path.name}")

    def abort(self) -> None:
        self._pending = None

    def close(self) -> None:
        self._pending = None
