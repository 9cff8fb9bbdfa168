"""A day's work of each built-in role in a real browser (Debian's Chromium driven by Playwright
against `crm serve`): admin, sales_rep, support_agent and marketer each create and edit the
records their role may write - companies, contacts, tasks, notes, activities logged on the
contact's timeline, the loyalty example plugin's ledger entries, and teams, users and roles for
the admin - through forms, reference pickers chosen with the keyboard and record actions only.

No API call does what the pages should do: the API only seeds what another role owns (the
admin's grants of the loyalty ledger to the other roles). No id is ever typed for a reference.
Each story runs at 1280 and at 375 px, where no page may scroll sideways; the sales rep's story
also runs in Spanish. Set ``CRM_SCREENSHOTS=1`` to (re)write the screenshots of a record action
dialog and of a reference picker under ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmcore.testing.browser import (
    WIDTHS,
    api,
    assert_no_sideways_scroll,
    free_port,
    instance_env,
    run_crm,
    serving,
    watched_page,
)

PASSWORD = "Browser-test-password-1"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
USERS = {
    "admin": ("admin@example.com", "Alex Admin"),
    "sales_rep": ("rep@example.com", "Rita Rep"),
    "support_agent": ("agent@example.com", "Ana Agent"),
    "marketer": ("marketer@example.com", "Mia Marketer"),
}
#: the ledger (no owner) the loyalty plugin lets managers write; the admin opens it to all
LEDGER = {"read": "all", "create": "all", "update": "all"}
#: the words of the pages a story reads or clicks, in each language
WORDS = {
    "en": {
        "Sign in": "Sign in",
        "Save": "Save",
        "Edit": "Edit",
        "Changes saved.": "Changes saved.",
        "Note": "Note",
        "Task": "Task",
        "Call": "Call, meeting or e-mail",
        "Add note": "Add note",
        "Add task": "Add task",
        "Log it": "Log it",
        "Give points": "Give points",
        "Points recorded.": "Points recorded.",
        "Company": "Company",
        "Contact": "Contact",
        "Assignee": "Assignee",
    },
    "es": {
        "Sign in": "Iniciar sesión",
        "Save": "Guardar",
        "Edit": "Editar",
        "Changes saved.": "Cambios guardados.",
        "Note": "Nota",
        "Task": "Tarea",
        "Call": "Llamada, reunión o correo",
        "Add note": "Añadir nota",
        "Add task": "Añadir tarea",
        "Log it": "Registrar",
        "Give points": "Give points",
        "Points recorded.": "Points recorded.",
        "Company": "Empresa",
        "Contact": "Contacto",
        "Assignee": "Asignado a",
    },
}


def _token(base: str, email: str) -> str:
    answer = api(base, "POST", "/api/v1/auth/token", {"email": email, "password": PASSWORD})
    return str(answer["token"])


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[str]:
    """An instance with the loyalty example enabled and one user of each built-in role."""
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("stories-instance"), port, instance_database)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "loyalty")
    for role, (email, name) in USERS.items():
        run_crm(
            env, "users", "create", email, "--password", PASSWORD, "--role", role, "--name", name
        )
    with serving(env, port, timeout=120) as base:
        admin = _token(base, USERS["admin"][0])
        for role in api(base, "GET", "/api/v1/roles?limit=100", token=admin)["data"]:
            if role["name"] in ("sales_rep", "support_agent", "marketer"):
                grants = {**role["grants"], "loyalty_entries": LEDGER}
                api(base, "PATCH", f"/api/v1/roles/{role['id']}", {"grants": grants}, admin)
        yield base


@pytest.fixture(params=WIDTHS)
def page(crm_browser: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh context at the width; fails the test on script errors."""
    with watched_page(crm_browser, server, request.param) as page:
        yield page


def shot(page: Any, name: str) -> None:
    if os.environ.get("CRM_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


class Story:
    """One role's day, in one language and at one width."""

    def __init__(self, page: Any, role: str, lang: str = "en") -> None:
        self.page, self.role, self.lang = page, role, lang
        self.words = WORDS[lang]
        self.main = page.locator("main")
        self.tag = f"{role.replace('_', ' ').title().replace(' ', '')}{page.viewport_size['width']}"

    def w(self, text: str) -> str:
        return self.words[text]

    def goto(self, path: str) -> None:
        self.page.goto(path)
        self.check()

    def check(self) -> None:
        from playwright.sync_api import expect

        self.page.wait_for_load_state("load")  # a page still loading has no style sheet yet
        expect(self.page.locator("html")).to_have_attribute("lang", self.lang)
        assert_no_sideways_scroll(self.page)

    def sign_in(self) -> None:
        page = self.page
        page.goto("/login")
        page.locator("#email").fill(USERS[self.role][0])
        page.locator("#password").fill(PASSWORD)
        page.get_by_role("button", name=WORDS["en"]["Sign in"]).click()
        page.wait_for_url("**/")
        if self.lang != "en":
            page.locator("#language-select").select_option(self.lang)  # submits itself
            page.wait_for_function(f"document.documentElement.lang === {self.lang!r}")
        self.check()

    def save(self) -> None:
        self.main.get_by_role("button", name=self.w("Save"), exact=True).click()

    def saved(self, heading: str) -> None:
        from playwright.sync_api import expect

        expect(self.page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        self.check()

    def pick(self, label: str, words: str, choice: str, screenshot: str = "") -> None:
        """Choose ``choice`` in the picker ``label`` by typing ``words`` and the keyboard."""
        from playwright.sync_api import expect

        name = re.compile(rf"^{re.escape(label)}\b")  # a required one says so after its label
        combo = self.main.get_by_role("combobox", name=name)
        listbox = self.main.get_by_role("listbox", name=name)
        if combo.evaluate("e => e.tagName") == "SELECT":  # a short list: a plain <select>
            combo.select_option(label=choice)
            return
        combo.fill("")
        combo.focus()
        combo.press_sequentially(words)
        option = listbox.get_by_role("option", name=choice, exact=True)
        expect(option).to_be_visible()
        assert_no_sideways_scroll(self.page)
        if screenshot:
            shot(self.page, screenshot)
        for _ in range(10):  # the keyboard, never the mouse
            if option.get_attribute("aria-selected") == "true":
                break
            combo.press("ArrowDown")
        expect(option).to_have_attribute("aria-selected", "true")
        combo.press("Enter")
        expect(listbox).to_be_hidden()
        expect(combo).to_have_value(choice)

    def edit(self) -> None:
        self.main.locator(".page-head .actions").get_by_role(
            "link", name=self.w("Edit"), exact=True
        ).click()
        self.check()

    def changes_saved(self, text: str) -> None:
        from playwright.sync_api import expect

        expect(self.page.get_by_text(self.w("Changes saved."))).to_be_visible()
        expect(self.page.locator("dl.fields")).to_contain_text(text)
        self.check()

    # the records --------------------------------------------------------------------------

    def company(self) -> str:
        name = f"{self.tag} Works"
        self.goto("/companies/new")
        self.main.locator("#f-name").fill(name)
        self.save()
        self.saved(name)
        self.edit()
        self.main.locator("#f-domain").fill(f"{self.tag.lower()}.example.com")
        self.save()
        self.changes_saved(f"{self.tag.lower()}.example.com")
        return name

    def contact(self, company: str, screenshot: str = "") -> str:
        from playwright.sync_api import expect

        first, last = "Lucía", f"Ortega{self.tag}"
        self.goto("/contacts/new")
        self.main.locator("#f-first_name").fill(first)
        self.main.locator("#f-last_name").fill(last)
        self.pick(self.w("Company"), f"{self.tag} wor", company, screenshot)
        self.save()
        self.saved(f"{first} {last}")
        link = self.page.locator("dl.fields").get_by_role("link", name=company)
        expect(link).to_have_attribute("href", re.compile(r"^/companies/\d+$"))
        self.edit()
        self.main.locator("#f-email").fill(f"lucia.{self.tag.lower()}@example.com")
        self.save()
        self.changes_saved(f"lucia.{self.tag.lower()}@example.com")
        return f"{first} {last}"

    def timeline(self) -> tuple[str, str, str]:
        """A note, a task and a call logged from the contact's timeline."""
        from playwright.sync_api import expect

        page, timeline = self.page, self.page.locator("#timeline")
        note, task, call = f"Asked for a demo {self.tag}", f"Send prices {self.tag}", "Intro call"
        self.open_log(self.w("Note"))
        page.locator("#note-body").fill(note)
        page.get_by_role("button", name=self.w("Add note")).click()  # htmx swaps the timeline
        expect(timeline).to_contain_text(note)
        self.open_log(self.w("Task"))
        page.locator("#task-title").fill(task)
        page.get_by_role("button", name=self.w("Add task")).click()
        expect(timeline).to_contain_text(task)
        self.open_log(self.w("Call"))
        page.locator("#activity-kind").select_option("call")
        page.locator("#activity-subject").fill(f"{call} {self.tag}")
        page.locator("#activity-minutes").fill("15")
        page.get_by_role("button", name=self.w("Log it")).click()
        expect(timeline).to_contain_text(f"{call} {self.tag}")
        self.check()
        return note, task, f"{call} {self.tag}"

    def open_log(self, summary: str) -> None:
        """Unfold one of the timeline's forms (the page may show one open already)."""
        details = self.page.locator("#timeline details.log-form").filter(
            has=self.page.locator("summary", has_text=re.compile(f"^{re.escape(summary)}$"))
        )
        if details.get_attribute("open") is None:
            details.locator("summary").click()

    def open_from_list(self, plural: str, text: str) -> None:
        from playwright.sync_api import expect

        self.goto(f"/{plural}?q={text}")
        rows = self.main.locator("table.records tbody tr")
        expect(rows).to_have_count(1)  # the search finds the one record
        rows.locator(f"a[href^='/{plural}/']").first.click()
        self.page.wait_for_url(re.compile(rf"/{plural}/\d+$"))
        self.check()

    def edit_task(self, task: str) -> None:
        self.open_from_list("tasks", task)
        self.edit()
        self.main.locator("#f-title").fill(f"{task} (revised)")
        self.pick(self.w("Assignee"), USERS[self.role][1].split()[0], USERS[self.role][1])
        self.main.locator("#f-status").select_option("done")
        self.save()
        self.changes_saved(f"{task} (revised)")

    def edit_note(self, note: str) -> None:
        self.open_from_list("notes", note)
        self.edit()
        self.main.locator("#f-body").fill(f"{note}, next week")
        self.save()
        self.changes_saved(f"{note}, next week")

    def edit_activity(self, subject: str) -> None:
        self.open_from_list("activities", subject)
        self.edit()
        self.main.locator("#f-outcome").fill("Interested")
        self.save()
        self.changes_saved("Interested")

    def loyalty(self, contact: str, screenshot: str = "") -> None:
        """Points given with the contact's action, then an entry made and edited in its form."""
        from playwright.sync_api import expect

        page = self.page
        self.open_from_list("contacts", contact.split()[1])
        page.get_by_role("link", name=self.w("Give points")).click()
        dialog = page.locator("#action-give_points-dialog")
        expect(dialog).to_be_visible()
        box = dialog.bounding_box()
        width = page.viewport_size["width"]
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        dialog.locator("[name=points]").fill("40")
        dialog.locator("[name=reason]").fill("Welcome gift")
        if screenshot:
            shot(page, screenshot)
        dialog.get_by_role("button", name=self.w("Give points")).click()
        page.wait_for_url(re.compile(r"/loyalty_entries/\d+$"))
        expect(page.get_by_text(self.w("Points recorded."))).to_be_visible()
        link = page.locator("dl.fields").get_by_role("link", name=contact)
        expect(link).to_have_attribute("href", re.compile(r"^/contacts/\d+$"))
        self.check()

        self.goto("/loyalty_entries/new")
        self.pick(self.w("Contact"), contact.split()[1], contact)
        self.main.locator("#f-points").fill("-15")
        self.main.locator("#f-reason").fill("Mug")
        self.save()
        self.saved("Mug")
        self.edit()
        self.main.locator("#f-reason").fill("Mug and stickers")
        self.save()
        self.changes_saved("Mug and stickers")

    def admin_records(self) -> None:
        """A team with a member, an invited user whose role changes, a role with a grant."""
        from playwright.sync_api import expect

        page, width = self.page, self.page.viewport_size["width"]
        team = f"Field team {width}"
        self.goto("/admin/teams")
        self.main.locator("#team-name").fill(team)
        self.main.get_by_role("button", name="Create team").click()
        expect(page.get_by_role("heading", name=team, level=1)).to_be_visible()  # its page
        self.check()
        self.main.get_by_label(re.compile("^Rita Rep")).check()
        self.main.get_by_role("button", name="Save team").click()
        self.goto("/admin/teams")
        expect(self.main.get_by_role("listitem").filter(has_text=team)).to_contain_text("(1)")

        email = f"new{width}@example.com"
        self.goto("/admin/users")
        self.main.locator("#invite-email").fill(email)
        self.main.locator("#invite-name").fill(f"Nico New {width}")
        self.main.locator("#invite-role").select_option(label="Sales representative")
        self.main.get_by_role("button", name="Send invitation").click()
        row = self.main.locator("tr", has_text=email)
        expect(row).to_contain_text("Invited")
        row.get_by_label(f"Role of {email}").select_option(label="Marketer")
        row.get_by_role("button", name="Set role").click()
        expect(self.main.locator("tr", has_text=email).locator("select")).to_have_value(
            re.compile(r"^\d+$")
        )
        self.check()

        self.goto("/admin/roles")
        self.main.locator("#role-name").fill(f"field_{width}")
        self.main.locator("#role-title").fill(f"Field sales {width}")
        self.main.get_by_role("button", name="Create role").click()
        self.goto("/admin/roles")
        self.main.get_by_role("link", name=f"Field sales {width}").click()
        page.locator("#grant-contacts-read").select_option("all")
        page.locator("#role-description").fill("Sales people on the road")
        page.get_by_role("button", name="Save role").click()
        self.check()
        self.goto("/admin/roles")
        self.main.get_by_role("link", name=f"Field sales {width}").click()
        expect(page.locator("#grant-contacts-read")).to_have_value("all")
        expect(page.locator("#role-description")).to_have_value("Sales people on the road")


def test_sales_rep_works_through_pickers_and_actions(page: Any) -> None:
    story = Story(page, "sales_rep")
    story.sign_in()
    contact = story.contact(story.company())
    note, task, call = story.timeline()
    story.edit_task(task)
    story.edit_note(note)
    story.edit_activity(call)
    story.loyalty(contact)


def test_sales_rep_in_spanish(page: Any) -> None:
    story = Story(page, "sales_rep", "es")
    story.tag += "Es"
    story.sign_in()
    contact = story.contact(story.company())
    note, task, call = story.timeline()
    story.edit_task(task)
    story.edit_note(note)
    story.edit_activity(call)
    story.loyalty(contact)


def test_support_agent_works_through_pickers_and_actions(page: Any) -> None:
    story = Story(page, "support_agent")
    story.sign_in()
    contact = story.contact(story.company())
    note, task, call = story.timeline()
    story.edit_task(task)
    story.edit_note(note)
    story.edit_activity(call)
    story.loyalty(contact)


def test_marketer_works_through_pickers_and_actions(page: Any) -> None:
    story = Story(page, "marketer")
    story.sign_in()
    contact = story.contact(story.company())
    note, task, _call = story.timeline()  # activities: create, not update
    story.edit_task(task)
    story.edit_note(note)
    story.loyalty(contact)


def test_admin_works_through_pickers_and_actions(page: Any) -> None:
    wide = page.viewport_size["width"] > 1000
    story = Story(page, "admin")
    story.sign_in()
    contact = story.contact(story.company(), screenshot="reference-picker" if wide else "")
    note, task, call = story.timeline()
    story.edit_task(task)
    story.edit_note(note)
    story.edit_activity(call)
    story.loyalty(contact, screenshot="record-action-dialog" if wide else "")
    story.admin_records()
