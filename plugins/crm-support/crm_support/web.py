"""Staff pages (the queue view with keyboard triage) and the public pages under /support:
the web form and the satisfaction survey."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from crmcore import CRMError, current_crm
from crmcore.web import detail
from crmcore.web.security import public, safe_next
from crmcore.web.views import tz_name

from . import feedback, ratelimit, sla, tickets, uploads
from .incoming import MailRejected
from .models import OPEN_STATUSES, SupportQueue, Ticket
from .public_form import FormInput, file_request, pending_request, request_confirmation

QUEUE_PAGE = 100


def _records() -> Any:
    return current_crm().records(g.crm_access)


def make_blueprint() -> Blueprint:
    bp = Blueprint(
        "support",
        __name__,
        url_prefix="/support",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )

    @bp.route("/queue")
    def queue() -> Any:
        records = _records()
        stmt = records.query("tickets").where(Ticket.merged_into_id.is_(None))
        queue_id = request.args.get("queue", type=int)
        status = request.args.get("status", "open")
        mine = request.args.get("mine") == "1"
        if queue_id:
            stmt = stmt.where(Ticket.queue_id == queue_id)
        if status == "open":
            stmt = stmt.where(Ticket.status.in_(OPEN_STATUSES))
        elif status in ("solved", "closed"):
            stmt = stmt.where(Ticket.status == status)
        if mine:
            stmt = stmt.where(Ticket.assignee_id == g.crm_user.id)
        stmt = stmt.order_by(
            Ticket.resolution_due_at.is_(None), Ticket.resolution_due_at, Ticket.id
        )
        rows = list(records.session.scalars(stmt.limit(QUEUE_PAGE)))
        cal = sla.calendar(records.session)
        queues = []  # only to those who may read queues: a sales rep sees no queue names
        if records.access.can("support_queues", "read"):
            queues = list(
                records.session.scalars(records.query("support_queues").order_by(SupportQueue.name))
            )
        return render_template(
            "support/queue.html",
            tickets=rows,
            clocks={t.id: sla.clock(records.session, t, cal=cal) for t in rows},
            sla_time=sla.describe,
            queues=queues,
            queue_id=queue_id,
            status=status,
            mine=mine,
            can_update=records.access.can("tickets", "update"),
        )

    def _triage(ticket_id: int, data: dict[str, Any], message: str) -> Any:
        records = _records()
        ticket = records.get("tickets", ticket_id, "update")
        records.update("tickets", ticket, data)
        flash(message % {"number": ticket.number}, "success")
        back = safe_next(request.form.get("next"), url_for("support.queue"))
        return redirect(back, 303)

    @bp.route("/queue/<int:ticket_id>/assign", methods=["POST"])
    def assign_to_me(ticket_id: int) -> Any:
        return _triage(ticket_id, {"assignee_id": g.crm_user.id}, _("%(number)s is now yours."))

    @bp.route("/queue/<int:ticket_id>/solve", methods=["POST"])
    def solve(ticket_id: int) -> Any:
        return _triage(ticket_id, {"status": "solved"}, _("%(number)s is solved."))

    @bp.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
    def reply(ticket_id: int) -> Any:
        records = _records()
        ticket = records.get("tickets", ticket_id, "update")
        body = str(request.form.get("body", "")).strip()
        public_reply = request.form.get("public") == "1"
        status = request.form.get("status") or None
        if status not in (None, *OPEN_STATUSES, "solved"):
            status = None
        error = _("Write something first.") if not body else None
        files: list[Any] = []
        if error is None:
            try:
                files = uploads.read(current_crm(), request.files)
                if files and not records.access.can("attachments", "create"):
                    raise uploads.UploadError(_("You may not attach files."))
            except uploads.UploadError as exc:
                error = str(exc)
        if error is not None:  # the ticket's page again, the draft kept, the error on its field
            g.support_reply = {
                "body": body[:100_000],
                "public": public_reply,
                "status": status or "",
                "error": error,
                "files_error": bool(body),
            }
            context = detail.context(records, records.entity("tickets"), ticket.id, tz_name())
            return render_template("core/detail.html", **context), 422
        tickets.add_message(
            records,
            ticket,
            body[:100_000],
            public=public_reply,
            status=status,
            attachment_ids=tickets.store_files(records, ticket, files),
        )
        flash(_("Reply sent.") if public_reply else _("Note added."), "success")
        return redirect(url_for("web_records.show", plural="tickets", record_id=ticket.id), 303)

    @bp.route("/new", methods=["GET", "POST"])
    @public
    def new_ticket() -> Any:
        form = FormInput.from_request(request.form) if request.method == "POST" else FormInput()
        errors: dict[str, str] = {}
        if request.method == "POST":
            if not ratelimit.allow("public-form", ratelimit.PUBLIC_FORM):
                return render_template("support/new.html", form=form, errors={}, limited=True), 429
            errors = form.validate()
            if not errors:
                if form.website:  # the honeypot: people never see it, bots fill it in
                    return render_template("support/thanks.html"), 200
                try:
                    request_confirmation(current_crm(), form)
                except (CRMError, MailRejected):
                    errors = {"email": _("Check your e-mail address.")}
                else:  # nothing is filed until the address is confirmed
                    return render_template("support/confirm_sent.html", email=form.email), 202
        return render_template("support/new.html", form=form, errors=errors, limited=False), (
            422 if errors else 200
        )

    @bp.route("/new/confirm/<token>", methods=["GET", "POST"])
    @public
    def confirm_ticket(token: str) -> Any:
        crm = current_crm()
        pending = pending_request(crm, token)
        if pending is None:
            return render_template("support/confirm_gone.html"), 404
        if request.method == "GET":  # a button, so that no link checker files it
            return render_template("support/confirm.html", pending=pending, token=token)
        if file_request(crm, pending) is None:
            return render_template("support/confirm_gone.html"), 404
        return render_template("support/thanks.html"), 201

    @bp.route("/feedback/<token>", methods=["GET", "POST"])
    @public
    def survey(token: str) -> Any:
        crm = current_crm()
        ticket = feedback.ticket_for(crm, token)
        if ticket is None:
            abort(404)
        if feedback.answered(crm.session, ticket.id):
            return render_template("support/feedback_done.html", ticket=ticket, again=True)
        error = None
        if request.method == "POST":
            rating = request.form.get("rating", type=int)
            if rating not in (1, 2, 3, 4, 5):
                error = _("Choose a rating from 1 to 5.")
            else:
                feedback.record_answer(
                    crm.session, ticket, rating, str(request.form.get("comment", ""))
                )
                return render_template("support/feedback_done.html", ticket=ticket, again=False)
        return render_template("support/feedback.html", ticket=ticket, token=token, error=error), (
            422 if error else 200
        )

    return bp
