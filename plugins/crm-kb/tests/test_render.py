"""Markdown rendering and sanitising, slugs and summaries (no app needed)."""

from crm_kb.render import render, slug_problem, slugify, summary


def test_markdown_is_rendered():
    html = render("# Title\n\n**bold** and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html
    assert "<table>" in html


def test_script_style_and_iframe_never_survive():
    body = "<script>alert(1)</script><style>p{}</style><iframe src=x></iframe>"
    html = render(body)
    assert "<script" not in html and "<style" not in html and "<iframe" not in html
    assert "&lt;script&gt;" in html  # shown as text


def test_unsafe_links_are_dropped():
    html = render("[a](javascript:alert(1)) [b](data:text/html,x) [c](JaVaScRiPt:alert(1))")
    assert "href" not in html


def test_safe_links_get_nofollow():
    html = render("[site](https://example.com)")
    assert 'href="https://example.com"' in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_data_images_are_dropped():
    assert "data:" not in render("![x](data:image/png;base64,AAAA)")


def test_slugify_and_slug_rules():
    assert slugify("¿Cómo cambio mi contraseña?") == "como-cambio-mi-contrasena"
    assert slugify("!!!") == "article"
    assert slug_problem("ok-slug") is None
    assert slug_problem("123") is not None
    assert slug_problem("Bad Slug") is not None


def test_summary_is_plain_text_cut_at_a_word():
    text = summary("**Hello** <b>there</b> " + "word " * 100)
    assert text.startswith("Hello <b>there</b> word")
    assert len(text) <= 160 and text.endswith("…")
