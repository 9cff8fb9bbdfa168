"""Handing a message to an SMTP server: plain, STARTTLS or implicit TLS, with AUTH."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from .config import MailError, SmtpConfig


def tls_context(config: SmtpConfig) -> ssl.SSLContext:
    """A verifying client context; ``cafile`` adds a CA (a private or test server)."""
    context = ssl.create_default_context()
    if config.cafile:
        try:
            context.load_verify_locations(cafile=config.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise MailError(f"cannot load the CA file {config.cafile}: {exc}") from None
    return context


def deliver(
    config: SmtpConfig, message: EmailMessage, sender: str, recipients: list[str]
) -> dict[str, tuple[int, bytes]]:
    """Send one message; raise :class:`MailError` saying what failed, never the password.

    Returns the recipients the server refused while accepting the others (sending again would
    duplicate the message for those that got it).
    """
    where = config.safe_url
    try:
        client: smtplib.SMTP
        if config.tls == "implicit":
            client = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=tls_context(config)
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with client:
            client.ehlo()
            if config.tls == "starttls":
                if not client.has_extn("starttls"):
                    raise MailError(f"{where} does not offer STARTTLS")
                client.starttls(context=tls_context(config))
                client.ehlo()
            if config.username:
                client.login(config.username, config.password or "")
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
    except MailError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"{where} refused the login of {config.username!r}: "
            f"{exc.smtp_code} {_text(exc.smtp_error)}"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"{where} refused every recipient: {sorted(exc.recipients)}") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise MailError(f"cannot send through {where}: {type(exc).__name__}: {exc}") from None
    return refused


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
