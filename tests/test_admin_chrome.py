"""The /help page's Markdown: GitHub's anchors (the help links point at them), everything
escaped, tables as tables, and only web links kept as links."""

from __future__ import annotations

from admin.chrome import HELP, TROUBLESHOOTING, markdown_html, slug


def test_anchors_are_githubs_and_every_help_topic_has_its_section() -> None:
    assert slug("`m365sync doctor` and the **Check** button") == (
        "m365sync-doctor-and-the-check-button"
    )
    assert slug('"Setup Required"') == "setup-required"
    html = markdown_html(TROUBLESHOOTING.read_text(encoding="utf-8"))
    for topic, anchor in HELP.items():
        assert not anchor or f'id="{anchor}"' in html, topic


def test_markdown_is_escaped_and_tables_and_links_are_rendered() -> None:
    text = (
        "## A <b>heading</b>\n\nSee [the docs](https://example.com/x) and [a file](README.md)"
        " <script>x</script> `<code>`.\n\n| a | b |\n|---|---|\n| **1** | 2 |\n\n"
        "- one\n  more\n- two\n\n```sh\n<pre> & co\n```\n"
    )
    html = markdown_html(text)
    assert '<h3 id="a-bheadingb">A &lt;b&gt;heading&lt;/b&gt;</h3>' in html
    assert '<a href="https://example.com/x">the docs</a>' in html
    assert "a file" in html and 'href="README.md"' not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<code>&lt;code&gt;</code>" in html
    assert '<th scope="col">a</th>' in html and "<td><b>1</b></td>" in html
    assert "<li>one more</li><li>two</li>" in html
    assert "<pre><code>&lt;pre&gt; &amp; co</code></pre>" in html
