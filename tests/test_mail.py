"""Outgoing mail: the file outbox, and a real SMTP peer (aiosmtpd) with AUTH, STARTTLS, SMTPS."""

import logging
import socket
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from ops_support import make_certificate, start_smtp

from crmcore import mail
from crmcore.mail import MailError, parse_smtp_url
from crmcore.mail import outbox as outbox_module

# the plain-text AUTH tests need a peer that allows AUTH without TLS, and aiosmtpd warns about it
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_app(app, crm):
    """The test app with CRM_SMTP_URL set for one test (restored afterwards)."""
    before = crm.settings.smtp_url

    def use(url):
        crm.settings.smtp_url = url
        return app

    yield use
    crm.settings.smtp_url = before


@pytest.fixture
def peer():
    servers = []

    def start(**kwargs):
        controller, inbox = start_smtp(**kwargs)
        servers.append(controller)
        return controller, inbox

    yield start
    for controller in servers:
        controller.stop()


def message(to="ana@example.com", subject="Hello", **headers):
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Body text, ñ and ü.\n")
    return msg


def test_outbox_when_no_smtp_url(app, crm):
    assert not crm.settings.smtp_url
    path = mail.send(app, message(subject="To the outbox"))
    assert path.parent == crm.settings.instance_path / "outbox"
    assert path.suffix == ".eml"
    assert not list(path.parent.glob(".tmp-*"))  # written atomically, nothing left behind
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "To the outbox"
    assert parsed["From"] == crm.settings.mail_from
    assert parsed["Message-ID"] and parsed["Date"]
    assert "ñ and ü" in parsed.get_content()


def test_a_reader_of_the_outbox_never_lists_a_message_being_written(app, crm, monkeypatch):
    """The worker writes while others list ``*.eml`` (the privacy erasure, a mail pick-up): the
    file being written is not one of them (``pathlib``'s glob lists hidden files too)."""
    outbox = crm.settings.instance_path / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    listed: list[set] = []
    fsync = outbox_module.os.fsync

    def fsync_and_look(fd):  # the moment the message is on disk but not yet renamed
        listed.append(set(outbox.glob("*.eml")) - before)
        return fsync(fd)

    monkeypatch.setattr(outbox_module.os, "fsync", fsync_and_look)
    path = mail.send(app, message(subject="Being written"))
    assert listed == [set()]
    assert set(outbox.glob("*.eml")) - before == {path}


def test_header_injection_refused(app, crm):
    outbox = crm.settings.instance_path / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    msg = EmailMessage(policy=policy.compat32)  # the legacy policy lets a raw value through
    msg["To"] = "ana@example.com"
    msg["Subject"] = "Hi\r\nBcc: victim@example.net"
    msg.set_payload("x")
    with pytest.raises(MailError, match="line break"):
        mail.send(app, msg)
    bad_to = EmailMessage(policy=policy.compat32)
    bad_to["To"] = "ana@example.com\nBcc: victim@example.net"
    with pytest.raises(MailError):
        mail.send(app, bad_to)
    after = set(outbox.glob("*.eml")) if outbox.exists() else set()
    assert after == before


def test_no_recipient_refused(app):
    msg = EmailMessage()
    msg["Subject"] = "nobody"
    with pytest.raises(MailError, match="no recipient"):
        mail.send(app, msg)


def test_plain_smtp_delivers_with_bcc_in_envelope_only(smtp_app, peer):
    controller, inbox = peer()
    app = smtp_app(f"smtp://127.0.0.1:{controller.port}")
    assert mail.send(app, message(Cc="cc@example.com", Bcc="hidden@example.com")) is None
    assert inbox.event.wait(5)
    got = inbox.messages[0]
    assert got["mail_from"] == "crm@localhost"
    assert sorted(got["rcpt_tos"]) == ["ana@example.com", "cc@example.com", "hidden@example.com"]
    assert b"hidden@example.com" not in got["data"]
    assert not got["tls"]


def test_auth_with_url_encoded_password(smtp_app, peer, caplog):
    password = "p@ss:w/rd%20 x"
    controller, inbox = peer(auth=("mailer@example.com", password))
    url = (
        f"smtp://{quote('mailer@example.com', safe='')}:{quote(password, safe='')}"
        f"@127.0.0.1:{controller.port}"
    )
    app = smtp_app(url)
    caplog.set_level(logging.DEBUG)
    mail.send(app, message())
    assert inbox.event.wait(5)
    assert inbox.messages[0]["rcpt_tos"] == ["ana@example.com"]
    assert password not in caplog.text and quote(password, safe="") not in caplog.text


def test_wrong_password_is_a_clear_error_without_the_password(smtp_app, peer, caplog):
    controller, inbox = peer(auth=("mailer", "right-one"))
    app = smtp_app(f"smtp://mailer:Wrong-Secret-42@127.0.0.1:{controller.port}")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailError) as info:
        mail.send(app, message())
    assert "refused the login" in str(info.value)
    assert "Wrong-Secret-42" not in str(info.value) and "Wrong-Secret-42" not in caplog.text
    assert not inbox.messages


def test_auth_required_but_no_credentials(smtp_app, peer):
    controller, inbox = peer(auth=("mailer", "pw"))
    app = smtp_app(f"smtp://127.0.0.1:{controller.port}")
    with pytest.raises(MailError):
        mail.send(app, message())
    assert not inbox.messages


@pytest.mark.parametrize("style", ["query", "scheme"])
def test_starttls_with_auth(smtp_app, peer, certificate, style):
    controller, inbox = peer(starttls=certificate.server_context(), auth=("u", "secret"))
    url = (
        f"smtp://u:secret@127.0.0.1:{controller.port}?starttls=1&cafile={certificate.cert}"
        if style == "query"
        else f"smtp+starttls://u:secret@127.0.0.1:{controller.port}?cafile={certificate.cert}"
    )
    mail.send(smtp_app(url), message())
    assert inbox.event.wait(5)
    assert inbox.messages[0]["tls"] is True


def test_starttls_verifies_the_certificate(smtp_app, peer, certificate):
    controller, inbox = peer(starttls=certificate.server_context())
    app = smtp_app(f"smtp+starttls://127.0.0.1:{controller.port}")  # self-signed, not trusted
    with pytest.raises(MailError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        mail.send(app, message())
    assert not inbox.messages


def test_starttls_required_but_not_offered(smtp_app, peer):
    controller, inbox = peer()
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        mail.send(smtp_app(f"smtp://127.0.0.1:{controller.port}?starttls=1"), message())
    assert not inbox.messages


def test_smtps_implicit_tls_with_auth(smtp_app, peer, certificate):
    controller, inbox = peer(implicit_tls=certificate.server_context(), auth=("u", "pw"))
    mail.send(
        smtp_app(f"smtps://u:pw@127.0.0.1:{controller.port}?cafile={certificate.cert}"), message()
    )
    assert inbox.event.wait(5)
    assert inbox.messages[0]["tls"] is True


def test_timeout_on_a_silent_server(smtp_app):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(MailError, match=r"timed out|TimeoutError"):
            mail.send(smtp_app(f"smtp://127.0.0.1:{port}?timeout=0.5"), message())
        assert time.monotonic() - start < 3


def test_connection_refused(smtp_app):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(MailError, match=f"127.0.0.1:{port}"):
        mail.send(smtp_app(f"smtp://u:Hidden-Pw@127.0.0.1:{port}?timeout=2"), message())


def test_parse_smtp_url():
    plain = parse_smtp_url("smtp://mail.example.com")
    assert (plain.host, plain.port, plain.tls, plain.username) == (
        "mail.example.com",
        25,
        "none",
        None,
    )
    assert parse_smtp_url("smtps://h").port == 465
    assert parse_smtp_url("smtp+starttls://h").port == 587
    assert parse_smtp_url("smtp://h?starttls=1").tls == "starttls"
    assert parse_smtp_url("smtp://h:2525?starttls=yes").port == 2525
    auth = parse_smtp_url("smtp://a%40b.com:p%3Aw%40d@h:25?timeout=7")
    assert (auth.username, auth.password, auth.timeout) == ("a@b.com", "p:w@d", 7.0)
    assert "p:w@d" not in repr(auth) and "p:w@d" not in auth.safe_url
    for bad in (
        "http://h",
        "smtp://",
        "smtp://h?verify=0",
        "smtps://h?starttls=1",
        "smtp://h?timeout=x",
        "smtp://h:notaport",
    ):
        with pytest.raises(MailError):
            parse_smtp_url(bad)


def test_send_or_queue_sends_now_or_leaves_it_to_the_queue(smtp_app, peer, crm):
    controller, inbox = peer()
    app = smtp_app(f"smtp://127.0.0.1:{controller.port}")
    mail.send_or_queue(app, message(to="now@example.com"))
    assert [m["rcpt_tos"] for m in inbox.messages] == [["now@example.com"]]

    down = socket.socket()
    down.bind(("127.0.0.1", 0))
    port = down.getsockname()[1]
    down.close()  # nothing listens there
    smtp_app(f"smtp://127.0.0.1:{port}?timeout=2")
    huey = crm.jobs.huey
    huey.flush()
    mail.send_or_queue(app, message(to="later@example.com"))
    task = huey.dequeue()
    assert task is not None and task.retries == 5 and task.retry_delay == 60
    smtp_app(f"smtp://127.0.0.1:{controller.port}")
    huey.execute(task)  # the queued job sends it once the server is back
    assert ["later@example.com"] in [m["rcpt_tos"] for m in inbox.messages]

    for bad in (message(to="not an address"), message(to="")):
        with pytest.raises(MailError):  # a malformed message is refused, never queued
            mail.send_or_queue(app, bad)
    assert huey.dequeue() is None
