"""Demo content: a small help centre in two languages."""

from __future__ import annotations

from typing import Any

ARTICLES = (
    ("Getting started", "How do I reset my password?",
     "Open **Sign in**, choose *Forgot password* and follow the link we e-mail you.",
     ["account", "password"]),
    ("Getting started", "How do I change my e-mail address?",
     "Go to your profile, edit the e-mail field and confirm the message we send you.",
     ["account"]),
    ("Billing", "Which payment methods do you accept?",
     "We accept credit cards and bank transfers.\n\n| Method | Fee |\n|---|---|\n| Card | 0 |",
     ["billing"]),
)  # fmt: skip


def create_demo(ctx: Any) -> None:
    records = ctx.records
    categories: dict[str, Any] = {}
    for name in dict.fromkeys(a[0] for a in ARTICLES):
        categories[name] = records.create("categories", {"name": name})
    first = None
    for category, title, body, tags in ARTICLES:
        article = records.create(
            "articles",
            {"title": title, "body": body, "tags": tags, "category_id": categories[category].id,
             "status": "published", "visibility": "public"},
        )  # fmt: skip
        first = first or article
    if first is not None:
        records.create(
            "articles",
            {"title": "¿Cómo restablezco mi contraseña?", "language": "es",
             "body": "Abre **Iniciar sesión**, elige *He olvidado mi contraseña* y sigue el enlace",
             "translation_of_id": first.id, "category_id": first.category_id,
             "status": "published", "visibility": "public"},
        )  # fmt: skip
    records.create(
        "articles",
        {"title": "Refund policy for agents", "body": "Refunds over 100 EUR need a manager.",
         "status": "published", "visibility": "internal", "tags": ["billing"]},
    )  # fmt: skip
