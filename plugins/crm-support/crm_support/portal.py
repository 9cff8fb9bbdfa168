"""The customer portal at /portal: its own sign-in (not a CRM user), and a contact's own
tickets only. Every lookup is by the signed-in contact, so another contact's ticket or
attachment answers 404 exactly like one that does not exist."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select

from crmcore import ValidationError, current_crm
from crmcore.activities.models import Attachment
from crmcore.api.attachments import download_response, file_path
from crmcore.db import utcnow
from crmcore.web.security import public

from . import portal_accounts, ratelimit, tickets, uploads
from .models import PortalAccount, Ticket, TicketMessage

SESSION_KEY = "support_portal"


def current_account() -> PortalAccount | None:
    """The signed-in portal account, if its session is still valid."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    account = current_crm().session.get(PortalAccount, data.get("a"))
    if (
        account is None
        or not account.active
        or data.get("f") != portal_accounts.fingerprint(account)
    ):
        session.pop(SESSION_KEY, None)
        return None
    return account


def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Portal pages: public for the staff login, but they need a portal session."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        account = current_account()
        if account is None:
            return redirect(url_for("support_portal.login"))
        return view(account, *args, **kwargs)

    return public(wrapper)


def own_ticket(account: PortalAccount, ticket_id: int) -> Ticket:
    """The contact's ticket, or 404 (whoever else's it is)."""
    ticket = current_crm().session.scalar(
        select(Ticket).where(
            Ticket.id == ticket_id,
            Ticket.contact_id == account.contact_id,
            Ticket.deleted_at.is_(None),
        )
    )
    if ticket is None:
        abort(404)
    return ticket


def make_blueprint() -> Blueprint:
    bp = Blueprint("support_portal", __name__, url_prefix="/portal", template_folder="templates")

    @bp.route("/login", methods=["GET", "POST"])
    @public
    def login() -> Any:
        error = None
        email = ""
        if request.method == "POST":
            email = str(request.form.get("email", "")).strip()[:254]
            key = email.lower()
            if ratelimit.exhausted("portal-login", ratelimit.PORTAL_LOGIN) or ratelimit.exhausted(
                "portal-login-account", ratelimit.PORTAL_LOGIN, key
            ):
                return render_template(
                    "support/portal_login.html",
                    email=email,
                    error=_("Too many attempts; wait a minute."),
                ), 429
            account = portal_accounts.authenticate(
                current_crm(), email, str(request.form.get("password", ""))
            )
            if account is not None:
                session.pop(SESSION_KEY, None)
                session[SESSION_KEY] = {"a": account.id, "f": portal_accounts.fingerprint(account)}
                account.last_login_at = utcnow()
                current_crm().session.commit()
                return redirect(url_for("support_portal.index"), 303)
            ratelimit.allow("portal-login", ratelimit.PORTAL_LOGIN)
            ratelimit.allow("portal-login-account", ratelimit.PORTAL_LOGIN, key)
            error = _("Wrong e-mail or password.")
        return render_template("support/portal_login.html", email=email, error=error), (
            401 if error else 200
        )

    @bp.route("/logout", methods=["POST"])
    @public
    def logout() -> Any:
        session.pop(SESSION_KEY, None)
        return redirect(url_for("support_portal.login"), 303)

    @bp.route("/activate/<token>", methods=["GET", "POST"])
    @public
    def activate(token: str) -> Any:
        crm = current_crm()
        account = portal_accounts.account_for_token(crm, token)
        if account is None:
            abort(404)
        error = None
        if request.method == "POST":
            password = str(request.form.get("password", ""))
            if password != request.form.get("confirm", ""):
                error = _("The two passwords differ.")
            else:
                try:
                    portal_accounts.set_password(crm, account, password)
                except ValidationError as exc:
                    error = _(str(exc.messages.get("password", [""])[0]))  # type: ignore[union-attr]
                else:
                    session[SESSION_KEY] = {
                        "a": account.id,
                        "f": portal_accounts.fingerprint(account),
                    }
                    flash(_("Your password is set."), "success")
                    return redirect(url_for("support_portal.index"), 303)
        return render_template("support/portal_activate.html", email=account.email, error=error), (
            422 if error else 200
        )

    @bp.route("/")
    @signed_in
    def index(account: PortalAccount) -> Any:
        rows = current_crm().session.scalars(
            select(Ticket)
            .where(Ticket.contact_id == account.contact_id, Ticket.deleted_at.is_(None))
            .order_by(Ticket.id.desc())
            .limit(200)
        )
        return render_template("support/portal_index.html", account=account, tickets=list(rows))

    def ticket_page(
        account: PortalAccount, ticket: Ticket, error: str | None = None, body: str = ""
    ) -> str:
        session_ = current_crm().session
        thread = tickets.messages(session_, ticket.id, public_only=True)
        return render_template(
            "support/portal_ticket.html",
            account=account,
            ticket=ticket,
            thread=thread,
            files=tickets.attachments_of(session_, thread),
            error=error,
            body=body,
            max_files=uploads.MAX_FILES,
            max_mb=uploads.limit_text(current_crm()),
        )

    @bp.route("/tickets/<int:ticket_id>")
    @signed_in
    def show(account: PortalAccount, ticket_id: int) -> Any:
        return ticket_page(account, own_ticket(account, ticket_id))

    @bp.route("/tickets/<int:ticket_id>/reply", methods=["POST"])
    @signed_in
    def reply(account: PortalAccount, ticket_id: int) -> Any:
        crm = current_crm()
        ticket = own_ticket(account, ticket_id)
        body = str(request.form.get("body", "")).strip()[:20_000]
        if ticket.merged_into_id is not None or ticket.status == "closed":
            flash(_("This request is closed; open a new one."), "error")
        elif not body:
            flash(_("Write something first."), "error")
        else:
            try:
                files = uploads.read(crm, request.files)
            except uploads.UploadError as exc:
                return ticket_page(account, ticket, str(exc), body), 413
            records = crm.records()
            tickets.add_message(
                records,
                ticket,
                body,
                from_customer=True,
                author_contact_id=account.contact_id,
                channel="portal",
                attachment_ids=tickets.store_files(records, ticket, files),
            )
            flash(_("Your reply was added."), "success")
        return redirect(url_for("support_portal.show", ticket_id=ticket.id), 303)

    @bp.route("/new", methods=["GET", "POST"])
    @signed_in
    def new(account: PortalAccount) -> Any:
        crm = current_crm()
        errors: dict[str, str] = {}
        subject = str(request.form.get("subject", "")).strip()[:250]
        description = str(request.form.get("description", "")).strip()[:20_000]
        status = 200
        if request.method == "POST":
            if not subject:
                errors["subject"] = _("Say what it is about.")
            if not description:
                errors["description"] = _("Describe your request.")
            files: list[tuple[str, bytes]] = []
            try:
                files = uploads.read(crm, request.files)
            except uploads.UploadError as exc:
                errors["files"] = str(exc)
            status = 413 if "files" in errors else 422
            if not errors:
                records = crm.records()
                ticket = records.create(
                    "tickets",
                    {
                        "subject": subject,
                        "description": description,
                        "channel": "portal",
                        "contact_id": account.contact_id,
                    },
                )
                if files:  # the files travel on the first message, as they do by e-mail
                    tickets.add_message(
                        records,
                        ticket,
                        description,
                        from_customer=True,
                        author_contact_id=account.contact_id,
                        channel="portal",
                        attachment_ids=tickets.store_files(records, ticket, files),
                    )
                return redirect(url_for("support_portal.show", ticket_id=ticket.id), 303)
        return render_template(
            "support/portal_new.html",
            account=account,
            errors=errors,
            subject=subject,
            description=description,
            kb_suggest_url=_kb_suggest_url(),
            max_files=uploads.MAX_FILES,
            max_mb=uploads.limit_text(crm),
        ), status if errors else 200

    @bp.route("/attachments/<int:attachment_id>")
    @signed_in
    def attachment(account: PortalAccount, attachment_id: int) -> Any:
        """A file of a public message on one of the contact's own tickets; 404 for anything
        else (another contact's, an internal note's, the trash, a guess)."""
        crm = current_crm()
        lists = crm.session.scalars(
            select(TicketMessage.attachment_ids)
            .join(Ticket, Ticket.id == TicketMessage.ticket_id)
            .where(
                Ticket.contact_id == account.contact_id,
                Ticket.deleted_at.is_(None),
                TicketMessage.public.is_(True),
                TicketMessage.deleted_at.is_(None),
            )
        )
        if not any(attachment_id in (ids or ()) for ids in lists):
            abort(404)
        record = crm.session.get(Attachment, attachment_id)
        if record is None or record.deleted_at is not None or record.record_type != "ticket":
            abort(404)
        path = file_path(crm, record)
        if not path.is_file():
            abort(404)
        return download_response(path, record.filename)

    return bp


def _kb_suggest_url() -> str | None:
    """Where the new-request form asks for articles while the customer types (deflection),
    when the knowledge-base plugin is enabled."""
    if "kb" not in current_crm().enabled_plugins():
        return None
    try:
        return url_for("kb_help.suggest_fragment", source="portal")
    except Exception:  # kb enabled in the database but not installed here
        return None
