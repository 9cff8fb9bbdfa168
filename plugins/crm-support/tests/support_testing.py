"""Helpers of the support tests: real .eml files, the file outbox, forms with CSRF."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

MAIL = Path(__file__).parent / "mail"


def eml(name: str, **replace: str) -> bytes:
    """A message from tests/mail, with ``{placeholders}`` filled in."""
    text = (MAIL / name).read_text(encoding="utf-8")
    for key, value in replace.items():
        text = text.replace("{" + key + "}", value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


class Outbox:
    """The instance's file outbox (mail is written there when no SMTP server is set)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def files(self) -> list[Path]:
        return sorted(self.path.glob("**/*.eml"), key=lambda p: p.stat().st_mtime_ns)

    def messages(self) -> list[Any]:
        return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in self.files()]

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages() if address in str(m["To"])]

    def clear(self) -> None:
        for p in self.files():
            p.unlink()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def form_post(client: Any, url: str, data: dict[str, Any], from_page: str | None = None) -> Any:
    """POST like a browser: with the CSRF token of the page the form is on."""
    page = client.get(from_page or url)
    return client.post(url, data={"csrf_token": csrf_of(page.get_data(as_text=True)), **data})


PORTAL_PASSWORD = "Portal-password-42!"


def invite_link(api: Any, outbox: Outbox, contact: Any) -> str:
    """Invite ``contact`` to the portal; the path of the link in the invitation e-mail."""
    r = api.post("/api/v1/support/portal/invitations", json={"contact_id": contact.id})
    assert r.status_code == 201, r.get_json()
    [mail] = outbox.to(contact.email)
    found = re.search(r"http://[^/]+(/portal/activate/\S+)", mail.get_content())
    assert found, mail.get_content()
    return found.group(1)
