"""Staff pages of the marketing plugin (blueprint ``marketing_web``, under ``/marketing``).

The campaign page's panels post here: send now, schedule, cancel (each needs the permission
``marketing.send``, read access to the campaign and the page's CSRF token, and answers with a
flash message and a redirect back to the campaign). Also the preview of a campaign for one
contact and the full member list of a segment.

The preview is served as its own document (``.../preview/frame``) shown in an ``<iframe
sandbox>``, with a Content-Security-Policy of its own: no script at all, no form, nothing
but images and inline styles, and ``sandbox`` (an opaque origin, so even a message that
slipped something through could not reach the staff's session).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import Markup

from crmcore import CRMError, PermissionDenied, ValidationError, current_crm
from crmcore.db import utcnow

from .models import Campaign

SEND = "marketing.send"
MEMBERS_PAGE = 50
PREVIEW_CONTACTS = 50
#: The preview document: images and inline styles only; sandboxed; framed by our pages only.
PREVIEW_CSP = (
    "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; "
    "font-src https: data:; form-action 'none'; base-uri 'none'; sandbox; "
    "frame-ancestors 'self'"
)


def _records() -> Any:
    return current_crm().records(g.crm_access)


def _back(campaign_id: int) -> Any:
    return redirect(url_for("web_records.show", plural="campaigns", record_id=campaign_id), 303)


def _after_send(records: Any, campaign_id: int) -> Any:
    """Where a send now lands: the results page for those who may see results."""
    from .panels import RESULTS

    if records.access.has(RESULTS):
        return redirect(url_for("marketing_web.results_page", campaign_id=campaign_id), 303)
    return _back(campaign_id)


def _sending_campaign(campaign_id: int) -> tuple[Any, Campaign]:
    """The campaign, when the user may send campaigns and read this one."""
    records = _records()
    campaign = records.get("campaigns", campaign_id)  # NotFound outside their scope
    if not records.access.has(SEND):
        raise PermissionDenied(_("You may not send campaigns."))
    return records, campaign


def parse_local(raw: str, tz_name: str) -> dt.datetime:
    """A ``datetime-local`` value in the user's time zone, as an aware UTC time."""
    try:
        naive = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError({"at": [_("Give a date and time.")]}) from None
    try:
        zone = zoneinfo.ZoneInfo(tz_name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = naive if naive.tzinfo else naive.replace(tzinfo=zone)
    return local.astimezone(dt.UTC)


def _error_text(exc: CRMError) -> str:
    messages = getattr(exc, "messages", None)
    if isinstance(messages, dict):
        parts = []
        for value in messages.values():
            items = value if isinstance(value, list) else [value]
            parts += [_(str(m)) for m in items if not isinstance(m, dict)]
        if parts:
            return " ".join(parts)
    return _(str(exc.detail))


def _render_preview(records: Any, campaign: Campaign, contact: Any) -> dict[str, Any]:
    """Subject, sanitised HTML document and plain text of ``campaign`` for ``contact`` (or the
    sample contact when ``None``), exactly as the API's preview renders them: no tracking,
    links as written, an unsubscribe link that belongs to nobody."""
    from .content_api import preview

    out: dict[str, Any] = {"subject": "", "html": "", "text": "", "error": None}
    try:
        out.update(preview(records, "campaigns", campaign.id, getattr(contact, "id", None)))
    except ValidationError as exc:
        out["error"] = _error_text(exc)
    return out


def make_blueprint() -> Blueprint:
    """The ``marketing_web`` blueprint (staff pages; sign-in and CSRF as every page)."""
    bp = Blueprint(
        "marketing_web",
        __name__,
        url_prefix="/marketing",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )

    @bp.route("/campaigns/<int:campaign_id>/send", methods=["POST"])
    def send(campaign_id: int) -> Any:
        """Send now."""
        from . import sending

        records, campaign = _sending_campaign(campaign_id)
        try:
            sending.start(current_crm(), campaign, records=records)
        except CRMError as exc:
            flash(_error_text(exc), "error")
        else:
            if campaign.status == "sent":  # direct mail: the outbox is the mailing list
                flash(
                    _("%(name)s is ready: print its address labels.", name=campaign.name), "success"
                )
            else:
                flash(_("Sending %(name)s.", name=campaign.name), "success")
                return _after_send(records, campaign_id)
        return _back(campaign_id)

    @bp.route("/campaigns/<int:campaign_id>/results")
    def results_page(campaign_id: int) -> Any:
        """The campaign's results on a page of their own: figures, the chart of sent,
        delivered, opened, clicked, bounced and unsubscribed over time, top links."""
        from . import panels

        records = _records()
        campaign = records.get("campaigns", campaign_id)
        if not records.access.has(panels.RESULTS):
            raise PermissionDenied(_("You may not see campaign results."))
        html = panels.campaign_results_panel(campaign, g.crm_user, records)
        panel = Markup(html) if html else None  # noqa: S704 - a rendered, escaped template
        return render_template("marketing/results.html", campaign=campaign, panel=panel)

    @bp.route("/campaigns/<int:campaign_id>/schedule", methods=["POST"])
    def schedule(campaign_id: int) -> Any:
        """Send at a time given in the user's time zone."""
        from . import sending

        records, campaign = _sending_campaign(campaign_id)
        try:
            at = parse_local(str(request.form.get("at", ""))[:40], g.crm_user.timezone)
            if at <= utcnow():  # the engine would send at once: not what "schedule" means
                raise ValidationError({"at": [_("Choose a time in the future.")]})
            sending.start(current_crm(), campaign, at=at, records=records)
        except CRMError as exc:
            flash(_error_text(exc), "error")
        else:
            flash(_("%(name)s is scheduled.", name=campaign.name), "success")
        return _back(campaign_id)

    @bp.route("/campaigns/<int:campaign_id>/cancel", methods=["POST"])
    def cancel(campaign_id: int) -> Any:
        """Stop a scheduled or running send (messages already sent stay sent)."""
        from . import sending

        records, campaign = _sending_campaign(campaign_id)
        try:
            sending.cancel(current_crm(), campaign, records=records)
        except CRMError as exc:
            flash(_error_text(exc), "error")
        else:
            flash(_("%(name)s is cancelled.", name=campaign.name), "success")
        return _back(campaign_id)

    @bp.route("/campaigns/<int:campaign_id>/labels.<any(csv, pdf):fmt>")
    def labels(campaign_id: int, fmt: str) -> Any:
        """A sent direct-mail campaign's address labels (CSV, or A4 sheets as PDF), of the
        contacts the user may read: the API's ``labels.csv``/``labels.pdf`` for the pages."""
        from . import labels as mailing

        records = _records()
        campaign = records.get("campaigns", campaign_id)
        mailing.check_allowed(records, campaign)
        name = f"campaign-{campaign.id}-labels.{fmt}"
        if fmt == "csv":
            return Response(
                stream_with_context(mailing.labels_csv(records, campaign)),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return Response(
            mailing.labels_pdf(records, campaign),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )

    def _preview_contact(records: Any) -> Any:
        contact_id = request.args.get("contact_id", "")
        if not contact_id:
            return None
        return records.get("contacts", contact_id)  # NotFound outside the viewer's scope

    @bp.route("/campaigns/<int:campaign_id>/preview")
    def preview(campaign_id: int) -> Any:
        """The campaign as a chosen contact (or a sample contact) would get it."""
        records = _records()
        campaign = records.get("campaigns", campaign_id)
        contact = _preview_contact(records)
        choices = []
        if campaign.segment_id is not None and records.access.can("segments", "read"):
            from . import segments

            try:
                segment = records.get("segments", campaign.segment_id)
                stmt = segments.members_query(records.crm, records, segment)
                model = records.entity("contacts").model
                choices = list(
                    records.session.scalars(stmt.order_by(model.id).limit(PREVIEW_CONTACTS))
                )
            except CRMError:
                choices = []
        if contact is not None and all(c.id != contact.id for c in choices):
            choices.insert(0, contact)
        rendered = _render_preview(records, campaign, contact)
        return render_template(
            "marketing/preview.html",
            campaign=campaign,
            contact=contact,
            choices=choices,
            contacts=records.entity("contacts"),
            rendered=rendered,
            frame_url=url_for(
                "marketing_web.preview_frame",
                campaign_id=campaign.id,
                **({"contact_id": contact.id} if contact is not None else {}),
            ),
        )

    @bp.route("/campaigns/<int:campaign_id>/preview/frame")
    def preview_frame(campaign_id: int) -> Any:
        """The message's HTML alone, for the preview's sandboxed frame."""
        records = _records()
        campaign = records.get("campaigns", campaign_id)
        rendered = _render_preview(records, campaign, _preview_contact(records))
        body = rendered["html"] if rendered["error"] is None else ""
        response = Response(body, mimetype="text/html")
        response.headers["Content-Security-Policy"] = PREVIEW_CSP
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @bp.route("/segments/<int:segment_id>/members")
    def segment_members(segment_id: int) -> Any:
        """Every member of a segment that the viewer may read, a page at a time."""
        from . import segments

        records = _records()
        segment = records.get("segments", segment_id)
        model = records.entity("contacts").model
        after = request.args.get("after", type=int) or 0
        error, rows, total = None, [], 0
        try:
            stmt = segments.members_query(records.crm, records, segment)
            total = records.count("contacts", stmt)
            rows = list(
                records.session.scalars(
                    stmt.where(model.id > after).order_by(model.id).limit(MEMBERS_PAGE + 1)
                )
            )
        except CRMError as exc:
            error = _error_text(exc)
        more = len(rows) > MEMBERS_PAGE
        rows = rows[:MEMBERS_PAGE]
        return render_template(
            "marketing/segment_members.html",
            segment=segment,
            members=rows,
            total=total,
            error=error,
            contacts=records.entity("contacts"),
            next_url=url_for(
                "marketing_web.segment_members", segment_id=segment.id, after=rows[-1].id
            )
            if more
            else None,
            first_url=url_for("marketing_web.segment_members", segment_id=segment.id)
            if after
            else None,
        )

    @bp.route("/segments/build", methods=["GET", "POST"])
    @bp.route("/segments/<int:segment_id>/build", methods=["GET", "POST"])
    def segment_builder(segment_id: int | None = None) -> Any:
        """Build a dynamic segment from rows; save it as its filter language."""
        from . import builder

        records = _records()
        segment = records.get("segments", segment_id) if segment_id is not None else None
        if segment is not None and segment.kind != "dynamic":
            raise ValidationError({"kind": [_("A static segment lists its contacts.")]})
        name = segment.name if segment is not None else ""
        status, errors, row_errors = 200, {}, {}
        if request.method == "GET":
            rows = [builder.Row()]
            if segment is not None:
                found = builder.from_segment(
                    segment.query, segment.company_query, segment.conditions, segment.or_groups
                )
                if found is None:
                    flash(_("This segment's query is edited as text."), "info")
                    return redirect(
                        url_for("web_records.edit", plural="segments", record_id=segment.id)
                    )
                rows = found or rows
        else:
            name = str(request.form.get("name", ""))[:200]
            rows = builder.rows_from_form(request.form)
            action = str(request.form.get("action", ""))
            last = max((r.group for r in rows), default=0)
            if action.startswith("add") and len(rows) < builder.MAX_ROWS:
                # "add": a row in the last group; "add-2": in group 2; "add-group": a new group
                target = action[4:]
                if action == "add-group":
                    group = min(last + 1, builder.MAX_GROUPS - 1)
                elif target.isascii() and target.isdigit():
                    group = min(int(target), last)
                else:
                    group = last
                rows = builder.normalised([*rows, builder.Row(group=group)])
            elif action.startswith("remove-"):
                index = int(action[7:]) if action[7:].isascii() and action[7:].isdigit() else -1
                rows = [r for i, r in enumerate(rows) if i != index] or [builder.Row()]
                rows = builder.normalised(rows)
            elif action == "save":
                saved, errors, row_errors = _save_segment(records, segment, name, rows)
                if saved is not None:
                    flash(_("Segment saved."), "success")
                    return redirect(
                        url_for("web_records.show", plural="segments", record_id=saved.id), 303
                    )
                status = 422
        preview = _builder_preview(records, rows)
        contacts = records.entity("contacts")
        return Response(
            render_template(
                "marketing/segment_builder.html",
                segment=segment,
                name=name,
                rows=rows,
                groups=builder.field_choices(
                    records.crm.custom_field_defs(records.session, contacts)
                ),
                row_groups=builder.grouped(rows),
                can_add_group=max((r.group for r in rows), default=0) + 1 < builder.MAX_GROUPS,
                operators=builder.OPERATORS,
                errors=errors,
                row_errors=row_errors,
                preview=preview,
                contacts=contacts,
            ),
            status=status,
        )

    @bp.route("/segments/build/preview", methods=["POST"])
    def segment_builder_preview() -> Any:
        """The live count and a sample of members of the rows being built (htmx)."""
        from . import builder

        records = _records()
        rows = builder.rows_from_form(request.form)
        return render_template(
            "marketing/_builder_preview.html",
            preview=_builder_preview(records, rows),
            contacts=records.entity("contacts"),
        )

    @bp.route("/email_templates/<int:template_id>/editor", methods=["GET", "POST"])
    def template_editor(template_id: int) -> Any:
        """Edit a template beside its live preview; save, or send a test."""
        from . import editor

        records = _records()
        template = records.get("email_templates", template_id)
        status, errors, to = 200, {}, ""
        if request.method == "GET":
            draft = editor.Draft.of(template)
            draft.contact_id = request.args.get("contact_id", type=int)
        else:
            draft = editor.Draft.from_form(request.form)
            action = str(request.form.get("action", ""))
            to = str(request.form.get("to", ""))[:254]
            try:
                if action == "save":
                    values = {
                        "subject": draft.subject,
                        "body_html": draft.body_html,
                        "body_text": draft.body_text or None,
                    }
                    records.update("email_templates", template, values)
                    flash(_("Template saved."), "success")
                    return redirect(
                        url_for(
                            "marketing_web.template_editor",
                            template_id=template.id,
                            contact_id=draft.contact_id,
                        ),
                        303,
                    )
                if action == "test":
                    sent_to = editor.send_test(records, draft, template.name, to)
                    flash(_("A test message was sent to %(to)s.", to=sent_to), "success")
            except ValidationError as exc:
                records.rollback()
                errors = {k: " ".join(map(str, v)) for k, v in exc.messages.items()}
                status = 422
        return Response(
            render_template(
                "marketing/template_editor.html",
                template=template,
                draft=draft,
                to=to,
                errors=errors,
                preview=editor.render(records, draft, template.name),
                merge_fields=editor.merge_fields(),
                picker=_contact_picker(draft.contact_id),
            ),
            status=status,
        )

    @bp.route("/email_templates/<int:template_id>/editor/preview", methods=["POST"])
    def template_editor_preview(template_id: int) -> Any:
        """The live preview of what is typed (htmx)."""
        from . import editor

        records = _records()
        template = records.get("email_templates", template_id)
        draft = editor.Draft.from_form(request.form)
        return render_template(
            "marketing/_template_preview.html",
            preview=editor.render(records, draft, template.name),
        )

    @bp.route("/campaigns/wizard", methods=["GET", "POST"])
    def campaign_wizard() -> Any:
        """Audience -> content -> schedule -> review -> send."""
        from . import sending, wizard

        records = _records()
        tz_name = getattr(g.crm_user, "timezone", None) or "UTC"
        answers = (
            wizard.Answers() if request.method == "GET" else wizard.Answers.from_form(request.form)
        )
        status = 200
        if request.method == "GET":
            answers.from_email = str(current_crm().settings.mail_from or "")
        if request.method == "POST":
            action = str(request.form.get("action", "next"))
            index = wizard.STEPS.index(answers.step)
            if action == "back":
                answers.step = wizard.STEPS[max(index - 1, 0)]
            else:
                # every step up to this one is checked again (a hand-made post skips nothing)
                for step in wizard.STEPS[: index + 1]:
                    answers.errors = wizard.check_step(records, answers, step, tz_name)
                    if answers.errors:
                        answers.step, status = step, 422
                        break
                if not answers.errors and action == "send" and answers.step == "review":
                    if not records.access.has(SEND):
                        raise PermissionDenied(_("You may not send campaigns."))
                    values: dict[str, Any] = {
                        "name": answers.name.strip(),
                        "kind": "email",
                        "segment_id": answers.segment_id,
                        "template_id": answers.template_id,
                    }
                    if answers.from_email.strip():
                        values["from_email"] = answers.from_email.strip()
                    at = wizard.send_at(answers, tz_name) if answers.when == "later" else None
                    try:
                        campaign = records.create("campaigns", values)
                        sending.start(current_crm(), campaign, at=at, records=records)
                    except ValidationError as exc:
                        records.rollback()
                        answers.errors = {k: " ".join(map(str, v)) for k, v in exc.messages.items()}
                        answers.step = "content" if "from_email" in answers.errors else "review"
                        status = 422
                    else:
                        flash(_("%(name)s is on its way.", name=campaign.name), "success")
                        if at is None:
                            return _after_send(records, campaign.id)
                        return _back(campaign.id)
                elif not answers.errors and index + 1 < len(wizard.STEPS):
                    answers.step = wizard.STEPS[index + 1]
        review: dict[str, Any] = {}
        segment = template = None
        if answers.segment_id is not None and "segment_id" not in answers.errors:
            try:
                segment = records.get("segments", answers.segment_id)
            except CRMError:
                segment = None
        if answers.template_id is not None and "template_id" not in answers.errors:
            try:
                template = records.get("email_templates", answers.template_id)
            except CRMError:
                template = None
        if answers.step == "review" and segment is not None:
            review = wizard.audience(records, segment)
            if template is not None:
                review["hints"] = wizard.spam_hints(
                    template.subject, template.body_html, template.body_text
                )
        segment_model = records.entity("segments").model
        template_model = records.entity("email_templates").model
        return Response(
            render_template(
                "marketing/campaign_wizard.html",
                answers=answers,
                steps=wizard.STEPS,
                segments=list(
                    records.session.scalars(
                        records.query("segments").order_by(segment_model.name).limit(500)
                    )
                ),
                templates=list(
                    records.session.scalars(
                        records.query("email_templates").order_by(template_model.name).limit(500)
                    )
                ),
                segment=segment,
                template=template,
                review=review,
                may_send=records.access.has(SEND),
            ),
            status=status,
        )

    return bp


def _contact_picker(contact_id: int | None) -> Any:
    """The core's reference picker of contacts, for the contact to preview for."""
    from types import SimpleNamespace

    from crmcore.web.views import picker_options

    records = _records()
    contacts = records.entity("contacts")
    choices = picker_options(contacts, "") if records.access.can(contacts, "read") else []
    value = str(contact_id) if contact_id else ""
    if value and value not in {c for c, _t in choices}:
        try:
            chosen = records.get("contacts", contact_id)
            choices = [(value, contacts.display(chosen)), *choices]
        except CRMError:
            value = ""
    return SimpleNamespace(
        dom_id="preview-contact",
        input_name="contact_id",
        target="contacts",
        choices=choices,
        value=value,
    )


SAMPLE = 10


def _builder_values(records: Any, rows: list[Any]) -> tuple[dict[str, Any] | None, dict[int, str]]:
    from . import builder

    try:
        return builder.to_segment(rows), {}
    except builder.RowError as exc:
        return None, {exc.index: str(exc)}


def _builder_preview(records: Any, rows: list[Any]) -> dict[str, Any]:
    """``count``, ``sample`` and ``query`` of the rows, or ``error`` (never an exception)."""
    from . import segments
    from .models import Segment

    if not records.access.can("segments", "read"):
        raise PermissionDenied(_("You may not read segments."))
    values, row_errors = _builder_values(records, rows)
    if values is None:
        return {"error": next(iter(row_errors.values())), "count": None, "sample": []}
    crm, session = records.crm, records.session
    first = {k: values[k] for k in segments.GROUP_PARTS}
    problems: list[str] = [m for ms in segments.clean_group(records, first).values() for m in ms]
    try:
        or_groups = segments.clean_or_groups(records, values["or_groups"])
    except ValidationError as exc:
        problems += _messages(exc.messages)
        or_groups = []
    result: dict[str, Any] = {
        "query": values["query"],
        "company_query": values["company_query"],
        "or_groups": values["or_groups"],
    }
    if problems:
        return {**result, "error": " ".join(problems), "count": None, "sample": []}
    probe = Segment(kind="dynamic", or_groups=or_groups, **first)
    try:
        stmt = segments.members_query(crm, records, probe)
        total = records.count("contacts", stmt)
        model = records.entity("contacts").model
        sample = list(session.scalars(stmt.order_by(model.id).limit(SAMPLE)))
    except CRMError as exc:
        return {**result, "error": _error_text(exc), "count": None, "sample": []}
    return {**result, "error": None, "count": total, "sample": sample}


def _messages(value: Any) -> list[str]:
    """Every message of a nested error value, group numbers first (``Group 2: ...``)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        out: list[str] = []
        for key, inner in value.items():
            key = str(key)
            prefix = _("Group %(num)s:", num=int(key) + 1) + " " if key.isdigit() else ""
            out += [prefix + m for m in _messages(inner)]
        return out
    if isinstance(value, list | tuple):
        return [m for inner in value for m in _messages(inner)]
    return [str(value)]


def _save_segment(
    records: Any, segment: Any, name: str, rows: list[Any]
) -> tuple[Any, dict[str, list[str]], dict[int, str]]:
    """Create or update the segment; ``(saved, field errors, row errors)``."""
    values, row_errors = _builder_values(records, rows)
    if values is None:
        return None, {}, row_errors
    data = {"name": name.strip(), **values}
    try:
        if segment is None:
            return records.create("segments", {"kind": "dynamic", **data}), {}, {}
        return records.update("segments", segment, data), {}, {}
    except ValidationError as exc:
        records.rollback()
        errors = {k: _messages(v) for k, v in exc.messages.items()}
        return None, errors, {}
