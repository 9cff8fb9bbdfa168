"""Direct mail: sending marks the recipients without any e-mail; address labels as CSV and PDF,
in the caller's scope, with spreadsheet formulas neutralised and names escaped."""

from __future__ import annotations

import csv
import io

from crm_marketing import outbox
from crm_marketing.models import CampaignEvent
from sqlalchemy import func, select


def _segment(records, tag="post"):
    return records.create("segments", {"name": f"Post {tag}", "query": f"tags={tag}"})


def _direct(records, segment, **fields):
    return records.create(
        "campaigns",
        {"name": "Catalogue", "kind": "direct_mail", "segment_id": segment.id, **fields},
    )


def _address(**fields):
    return {
        "tags": ["post"],
        "street": "Calle Mayor 1",
        "city": "Madrid",
        "postal_code": "28013",
        "country": "ES",
        **fields,
    }


def _csv(response):
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_direct_mail_marks_recipients_sent_without_any_email(
    api, records, make_contact, smtp_peer, session
):
    ana = make_contact(**_address(first_name="Ana"))
    opted = make_contact(**_address(first_name="Opted", email_opt_out=True))  # e-mail only
    no_mail = make_contact(**_address(first_name="Paper", email=None))
    no_street = make_contact(**_address(first_name="Nostreet", street=""))
    no_city = make_contact(**_address(first_name="Nocity", city=None))
    campaign = _direct(records, _segment(records))
    answer = api.post(f"/api/v1/campaigns/{campaign.id}/send", json={})
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["status"] == "sent" and answer.get_json()["finished_at"]
    assert smtp_peer.messages == []
    counts = outbox.counts(session, campaign.id)
    assert (counts["sent"], counts["skipped"], counts["queued"]) == (3, 2, 0)
    skipped = {
        r.contact_id: r.reason
        for r in session.scalars(
            select(outbox.Recipient).where(outbox.Recipient.status == "skipped")
        )
    }
    assert skipped == {no_street.id: "no_address", no_city.id: "no_address"}
    assert {ana.id, opted.id, no_mail.id} == set(
        session.scalars(
            select(outbox.Recipient.contact_id).where(outbox.Recipient.status == "sent")
        )
    )
    events = session.scalar(select(func.count()).where(CampaignEvent.campaign_id == campaign.id))
    assert events == 3
    assert api.post(f"/api/v1/campaigns/{campaign.id}/send", json={}).status_code == 409


def test_labels_csv_lists_readable_contacts_in_postal_order(
    api, api_as, records, make_user, make_company, make_contact
):
    records.create(
        "roles",
        {
            "name": "mail_clerk",
            "title": "Mail clerk",
            "grants": {
                "campaigns": {"read": "all"},
                "contacts": {"read": "own"},
                "companies": {"read": "own"},
            },
        },
    )
    clerk = make_user("mail_clerk")
    theirs = make_company(name="Hidden Corp")
    mine = make_company(name="Clerk & Co", owner_id=clerk.id)
    bcn = make_contact(
        **_address(first_name="Bea", last_name="B", postal_code="08001", city="Barcelona"),
        owner_id=clerk.id,
        company_id=theirs.id,
    )
    formula = make_contact(
        **_address(
            first_name='=HYPERLINK("http://evil")',
            last_name="X",
            country="US",
            city="Boston",
            region="MA",
            postal_code="02108",
            street="-1 Main St",
        ),
        owner_id=clerk.id,
        company_id=mine.id,
    )
    mad = make_contact(**_address(first_name="Carlos", last_name="C"), owner_id=clerk.id)
    other = make_contact(**_address(first_name="Other", last_name="O"))  # not the clerk's
    campaign = _direct(records, _segment(records))
    assert api.post(f"/api/v1/campaigns/{campaign.id}/send", json={}).status_code == 202
    url = f"/api/v1/campaigns/{campaign.id}/labels.csv"

    answer = api_as(clerk).get(url)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = _csv(answer)
    assert [int(r["contact_id"]) for r in rows] == [bcn.id, mad.id, formula.id]  # ES 08, 28; US
    assert rows[0]["company"] == ""  # a company the clerk may not read is not printed
    assert rows[2]["company"] == "Clerk & Co"
    assert rows[2]["name"] == '\'=HYPERLINK("http://evil") X'  # not a formula any more
    assert rows[2]["street"] == "'-1 Main St"
    assert rows[1] == {
        "contact_id": str(mad.id),
        "name": "Carlos C",
        "company": "",
        "street": "Calle Mayor 1",
        "postal_code": "28013",
        "city": "Madrid",
        "region": "",
        "country": "ES",
    }
    everyone = _csv(api.get(url))
    assert {int(r["contact_id"]) for r in everyone} == {bcn.id, mad.id, formula.id, other.id}
    assert next(r for r in everyone if r["contact_id"] == str(bcn.id))["company"] == "Hidden Corp"


def test_labels_pdf_is_an_a4_sheet_of_escaped_addresses(api, records, make_contact):
    from pypdf import PdfReader

    make_contact(**_address(first_name="<b>Bold</b> & <script>x</script>", last_name="Tag"))
    make_contact(
        **_address(
            first_name="Dora",
            last_name="Dunn",
            country="US",
            city="Boston",
            region="MA",
            postal_code="02108",
            street="1 Main St\nApt 4",
        )
    )
    for i in range(23):
        make_contact(**_address(first_name=f"Filler{i:02d}", last_name="Z", postal_code="29000"))
    campaign = _direct(records, _segment(records))
    assert api.post(f"/api/v1/campaigns/{campaign.id}/send", json={}).status_code == 202
    answer = api.get(f"/api/v1/campaigns/{campaign.id}/labels.pdf")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(answer.get_data()))
    assert len(reader.pages) == 2  # 25 labels: 24 on the first sheet
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "<b>Bold</b> & <script>x</script>" in text  # printed as written, not markup
    assert "SPAIN" in text  # abroad: the country is printed
    assert "Boston MA 02108" in text and "Apt 4" in text
    assert "UNITED STATES" not in text  # the instance's own country is not


def test_labels_are_refused_where_they_make_no_sense(api, api_as, records, make_user, make_contact):
    make_contact(**_address())
    segment = _segment(records)
    draft = _direct(records, segment)
    email = records.create(
        "campaigns",
        {
            "name": "E-mail",
            "kind": "email",
            "segment_id": segment.id,
            "subject": "Hi",
            "body_html": "<p>Hi</p>",
            "from_email": "news@example.com",
        },
    )
    for campaign in (draft, email):
        for suffix in ("csv", "pdf"):
            answer = api.get(f"/api/v1/campaigns/{campaign.id}/labels.{suffix}")
            assert answer.status_code == 409, (campaign.kind, suffix)
    assert api.get("/api/v1/campaigns/999999/labels.csv").status_code == 404
    assert api.post(f"/api/v1/campaigns/{draft.id}/send", json={}).status_code == 202
    assert api.get(f"/api/v1/campaigns/{draft.id}/labels.csv").status_code == 200
    rep = make_user("sales_rep")  # may not read campaigns
    assert api_as(rep).get(f"/api/v1/campaigns/{draft.id}/labels.csv").status_code == 403
    records.create(
        "roles",
        {
            "name": "campaign_reader",
            "title": "Reads campaigns",
            "grants": {"campaigns": {"read": "all"}},
        },
    )
    reader = make_user("campaign_reader")  # may read campaigns, not contacts
    for suffix in ("csv", "pdf"):
        answer = api_as(reader).get(f"/api/v1/campaigns/{draft.id}/labels.{suffix}")
        assert answer.status_code == 403
