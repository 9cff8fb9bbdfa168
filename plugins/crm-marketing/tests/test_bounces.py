"""Bounces from real-looking DSN messages, by command and by API."""

from __future__ import annotations

import io

import pytest
from crm_marketing import bounces
from crm_marketing.models import Bounce
from sqlalchemy import select
from tracking_kit import eml, events, make_campaign, make_recipient

LIMIT = 10 * 1024 * 1024


@pytest.fixture
def sent(records, session, make_contact):
    campaign = make_campaign(records)
    contact = make_contact(email="gone@example.net")
    return campaign, contact, make_recipient(session, campaign, contact)


def dsn(name, recipient, **extra):
    values = {"email": recipient.email, "message_id": recipient.message_id, **extra}
    return eml(name, **values)


def bounce_row(session, email):
    session.expire_all()
    return session.scalar(select(Bounce).where(Bounce.email == email))


def fresh(session, record):
    session.expire_all()
    return session.get(type(record), record.id)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# parsing ---------------------------------------------------------------------------------------


def test_parse_a_hard_bounce(sent):
    _c, _contact, recipient = sent
    report = bounces.parse(dsn("dsn_hard_postfix.eml", recipient), LIMIT)
    [failure] = report.failures
    assert (failure.email, failure.kind, failure.status) == ("gone@example.net", "hard", "5.1.1")
    assert failure.message_id == recipient.message_id
    assert failure.diagnostic.startswith("smtp; 550 5.1.1 <gone@example.net>: Recipient address")


def test_parse_a_soft_bounce_with_the_whole_message_returned(sent):
    _c, _contact, recipient = sent
    [failure] = bounces.parse(dsn("dsn_soft_exim.eml", recipient), LIMIT).failures
    assert (failure.kind, failure.status) == ("soft", "4.2.2")
    assert failure.message_id == recipient.message_id


def test_parse_only_failed_recipients(sent):
    _c, _contact, recipient = sent
    raw = dsn("dsn_two_recipients.eml", recipient, other="fine@example.net")
    [failure] = bounces.parse(raw, LIMIT).failures
    assert (failure.email, failure.status) == ("gone@example.net", "5.2.1")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("autoreply.eml", "not a delivery status notification"),
        ("dsn_delayed.eml", "no failed recipient (action: delayed)"),
    ],
)
def test_parse_ignores_what_is_not_a_bounce(sent, name, reason):
    _c, _contact, recipient = sent
    report = bounces.parse(dsn(name, recipient), LIMIT)
    assert report.failures == []
    assert report.ignored.startswith(reason)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n",
        b"\x00\xff\xfe garbage without headers",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=X\r\n\r\n"
        b"--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n--X--\r\n",
    ],
)
def test_parse_refuses_malformed_input(raw):
    with pytest.raises(bounces.MalformedReport):
        bounces.parse(raw, LIMIT)


def test_parse_refuses_a_dsn_without_a_valid_status(sent):
    _c, _contact, recipient = sent
    with pytest.raises(bounces.MalformedReport, match="Status"):
        bounces.parse(dsn("dsn_malformed.eml", recipient), LIMIT)


def test_parse_refuses_huge_input(sent):
    _c, _contact, recipient = sent
    raw = dsn("dsn_hard_postfix.eml", recipient)
    with pytest.raises(bounces.TooLarge):
        bounces.parse(raw + b"x" * 2000, len(raw) + 1000)
    assert bounces.parse(raw, len(raw)).failures  # at the limit it is read


# recording through the command -----------------------------------------------------------------


def test_command_records_a_hard_bounce(cli, session, tmp_path, sent):
    campaign, contact, recipient = sent
    path = write(tmp_path, "hard.eml", dsn("dsn_hard_postfix.eml", recipient))
    result = cli("marketing", "bounces", path)
    assert result.exit_code == 0, result.output
    assert f"recorded: hard 5.1.1 gone@example.net (campaign {campaign.id})" in result.output
    assert fresh(session, recipient).bounced_at is not None
    [event] = events(session, "bounce")
    assert (event.campaign_id, event.recipient_id) == (campaign.id, recipient.id)
    assert event.detail.startswith("hard 5.1.1: smtp; 550 5.1.1")
    row = bounce_row(session, "gone@example.net")
    assert (row.kind, row.count, row.status_code, row.active) == ("hard", 1, "5.1.1", True)
    assert bounces.is_suppressed(session, "Gone@Example.net")
    # the opt-out is the person's consent; a bounce does not touch it
    assert fresh(session, contact).email_opt_out is False


def test_the_same_dsn_twice_counts_once(cli, session, tmp_path, sent):
    _c, _contact, recipient = sent
    path = write(tmp_path, "hard.eml", dsn("dsn_hard_postfix.eml", recipient))
    cli("marketing", "bounces", path)
    result = cli("marketing", "bounces", path)
    assert "already recorded" in result.output
    assert bounce_row(session, "gone@example.net").count == 1
    assert len(events(session, "bounce")) == 1


def test_command_reads_standard_input(app, session, sent):
    """As an MTA pipe would run it: ``crm marketing bounces < message``."""
    from crmcore.cli import cli as crm_cli

    _c, _contact, recipient = sent
    runner = app.test_cli_runner()
    raw = dsn("dsn_hard_postfix.eml", recipient)
    for args in (["marketing", "bounces"], ["marketing", "bounces", "-"]):
        result = runner.invoke(crm_cli, args, input=io.BytesIO(raw), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert result.output.startswith("-: recorded: hard 5.1.1")
    assert fresh(session, recipient).bounced_at is not None


def test_soft_bounces_are_counted_and_suppress_after_three(
    cli, session, records, make_contact, tmp_path
):
    contact = make_contact(email="full@example.net")
    paths = []
    for n in range(3):
        campaign = make_campaign(records, name=f"Campaign {n}")
        recipient = make_recipient(session, campaign, contact)
        paths.append(write(tmp_path, f"soft{n}.eml", dsn("dsn_soft_exim.eml", recipient)))
    cli("marketing", "bounces", paths[0])
    row = bounce_row(session, "full@example.net")
    assert (row.kind, row.count) == ("soft", 1)
    assert not bounces.is_suppressed(session, "full@example.net")
    result = cli("marketing", "bounces", *paths[1:])
    assert result.exit_code == 0
    assert result.output.count("recorded: soft 4.2.2") == 2
    assert bounce_row(session, "full@example.net").count == 3
    assert bounces.is_suppressed(session, "full@example.net")
    assert len(events(session, "bounce")) == 3


def test_a_hard_bounce_after_soft_ones_makes_the_address_hard(cli, session, tmp_path, sent):
    _c, _contact, recipient = sent
    soft = dsn("dsn_soft_exim.eml", recipient, message_id="<unknown-1@shop.example.com>")
    cli("marketing", "bounces", write(tmp_path, "soft.eml", soft))
    assert bounce_row(session, "gone@example.net").kind == "soft"
    cli("marketing", "bounces", write(tmp_path, "hard.eml", dsn("dsn_hard_postfix.eml", recipient)))
    row = bounce_row(session, "gone@example.net")
    assert (row.kind, row.count) == ("hard", 2)


def test_unknown_message_id_records_the_address_only(cli, session, tmp_path, sent):
    _c, _contact, recipient = sent
    raw = eml(
        "dsn_hard_postfix.eml",
        email="Stranger@Example.org",
        message_id="<not-ours@elsewhere.example>",
    )
    result = cli("marketing", "bounces", write(tmp_path, "x.eml", raw))
    assert result.exit_code == 0
    assert "recorded: hard 5.1.1 stranger@example.org" in result.output
    assert "campaign" not in result.output
    assert bounce_row(session, "stranger@example.org").kind == "hard"
    assert events(session) == []
    assert fresh(session, recipient).bounced_at is None


def test_a_cleared_bounce_starts_again(cli, session, tmp_path, sent):
    _c, _contact, recipient = sent
    session.add(Bounce(email="gone@example.net", kind="hard", count=7, active=False))
    session.commit()
    cli("marketing", "bounces", write(tmp_path, "s.eml", dsn("dsn_soft_exim.eml", recipient)))
    row = bounce_row(session, "gone@example.net")
    assert (row.kind, row.count, row.active) == ("soft", 1, True)


def test_non_dsn_mail_is_ignored_with_a_message(cli, session, tmp_path, sent):
    _c, _contact, recipient = sent
    paths = [
        write(tmp_path, "ooo.eml", dsn("autoreply.eml", recipient)),
        write(tmp_path, "delay.eml", dsn("dsn_delayed.eml", recipient)),
    ]
    result = cli("marketing", "bounces", *paths)
    assert result.exit_code == 0
    assert "ooo.eml: ignored: not a delivery status notification" in result.output
    assert "delay.eml: ignored: no failed recipient (action: delayed)" in result.output
    assert session.scalars(select(Bounce)).all() == []
    assert events(session) == []


def test_malformed_files_record_nothing_and_exit_65(cli, session, tmp_path, sent):
    _c, _contact, recipient = sent
    bad = write(tmp_path, "bad.eml", dsn("dsn_malformed.eml", recipient))
    empty = write(tmp_path, "empty.eml", b"")
    good = write(tmp_path, "good.eml", dsn("dsn_hard_postfix.eml", recipient))
    result = cli("marketing", "bounces", bad, empty, good)
    assert result.exit_code == bounces.EX_DATAERR
    assert "bad.eml: rejected:" in result.output and "Status" in result.output
    assert "empty.eml: rejected: The message is empty." in result.output
    # the good one in the same run is recorded; the bad ones recorded nothing
    assert len(events(session, "bounce")) == 1
    assert [row.email for row in session.scalars(select(Bounce))] == ["gone@example.net"]


def test_huge_input_is_refused(cli, session, tmp_path, sent, monkeypatch, crm):
    _c, _contact, recipient = sent
    monkeypatch.setitem(crm.settings.extra, "marketing", {"bounce_max_mb": 0.01})
    raw = dsn("dsn_hard_postfix.eml", recipient) + b"x" * 20_000
    result = cli("marketing", "bounces", write(tmp_path, "big.eml", raw))
    assert result.exit_code == bounces.EX_DATAERR
    assert "larger than" in result.output
    assert session.scalars(select(Bounce)).all() == []


def test_missing_file_is_a_usage_error(cli, session):
    result = cli("marketing", "bounces", "/nonexistent/file.eml")
    assert result.exit_code == 2
    assert "No such file or directory" in result.output
    assert session.scalars(select(Bounce)).all() == []


# the API ---------------------------------------------------------------------------------------

URL = "/api/v1/marketing/bounces"


def test_api_records_a_raw_message(api_as, marketer, session, sent):
    campaign, _contact, recipient = sent
    r = api_as(marketer).post(
        URL,
        data=dsn("dsn_hard_postfix.eml", recipient),
        headers={"Content-Type": "message/rfc822"},
    )
    assert r.status_code == 200, r.get_json()
    [item] = r.get_json()["data"]
    assert item["action"] == "recorded"
    assert item["bounces"] == [
        {
            "email": "gone@example.net",
            "kind": "hard",
            "status": "5.1.1",
            "recipient_id": recipient.id,
            "campaign_id": campaign.id,
            "duplicate": False,
        }
    ]
    assert fresh(session, recipient).bounced_at is not None


def test_api_takes_several_files(api, session, sent):
    _c, _contact, recipient = sent
    files = {
        "file": [
            (io.BytesIO(dsn("dsn_hard_postfix.eml", recipient)), "hard.eml"),
            (io.BytesIO(dsn("autoreply.eml", recipient)), "ooo.eml"),
        ]
    }
    r = api.post(URL, data=files, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    data = r.get_json()["data"]
    assert [(d["file"], d["action"]) for d in data] == [
        ("hard.eml", "recorded"),
        ("ooo.eml", "ignored"),
    ]
    assert data[1]["reason"].startswith("not a delivery status notification")


def test_api_one_malformed_message_records_nothing(api, session, sent):
    _c, _contact, recipient = sent
    files = {
        "file": [
            (io.BytesIO(dsn("dsn_hard_postfix.eml", recipient)), "hard.eml"),
            (io.BytesIO(dsn("dsn_malformed.eml", recipient)), "bad.eml"),
        ]
    }
    r = api.post(URL, data=files, content_type="multipart/form-data")
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    assert "bad.eml" in str(r.get_json())
    assert session.scalars(select(Bounce)).all() == []
    assert events(session) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{}", "application/json", 415),
        (b"", "message/rfc822", 422),
        (b"Subject: hi\r\n\r\nnot a dsn", "text/plain", 415),
    ],
)
def test_api_refuses_bad_requests(api, session, body, content_type, status):
    r = api.post(URL, data=body, headers={"Content-Type": content_type})
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"
    assert session.scalars(select(Bounce)).all() == []


def test_api_refuses_huge_messages(api, crm, monkeypatch, sent):
    _c, _contact, recipient = sent
    monkeypatch.setitem(crm.settings.extra, "marketing", {"bounce_max_mb": 0.01})
    raw = dsn("dsn_hard_postfix.eml", recipient) + b"x" * 20_000
    r = api.post(URL, data=raw, headers={"Content-Type": "message/rfc822"})
    assert r.status_code == 413
    files = {"file": [(io.BytesIO(raw), "big.eml")]}
    assert api.post(URL, data=files, content_type="multipart/form-data").status_code == 413


def test_api_needs_marketing_send(api_as, make_user, client, session, sent):
    _c, _contact, recipient = sent
    raw = dsn("dsn_hard_postfix.eml", recipient)
    headers = {"Content-Type": "message/rfc822"}
    for role in ("sales_rep", "manager", "read_only"):
        r = api_as(make_user(role)).post(URL, data=raw, headers=headers)
        assert r.status_code == 403, role
    assert client.post(URL, data=raw, headers=headers).status_code == 401
    assert session.scalars(select(Bounce)).all() == []
    assert api_as(make_user("admin")).post(URL, data=raw, headers=headers).status_code == 200
