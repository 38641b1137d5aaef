"""What frames every admin page: the one product name, the help link to the matching
section of docs/troubleshooting.md (served at /help, so it works without internet), and the
friendly page for an unknown link."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from aiohttp import web

from admin.html import Markup, esc, fmt, join, page

PRODUCT = "Microsoft 365 User Directory Sync"
HELP_PATH = "/help"
TROUBLESHOOTING = Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md"

# The troubleshooting section each kind of page links to (GitHub's heading anchors).
HELP = {
    "links": "setup-required",
    "overview": "auto-sync-not-working",
    "setup": "setup-required",
    "settings": "extensions-not-created",
    "plan": "extensions-not-created",
    "activity": "auto-sync-not-working",
    "doctor": "m365sync-doctor-and-the-check-button",
    "alerts": "mail-alerts-do-not-arrive",
    "not_found": "",
}


def help_link(topic: str) -> Markup:
    anchor = HELP.get(topic, "")
    return fmt(
        '<a class="help" href="{p}{a}" id="help-link">Help</a>',
        p=HELP_PATH,
        a=f"#{anchor}" if anchor else "",
    )


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)")


def _inline(text: str) -> Markup:
    """Code, bold and links of one line; everything else escaped. Links go nowhere outside
    the page except http(s) ones (the docs' relative links name repository files)."""
    out: list[Markup] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(esc(text[pos : m.start()]))
        code, bold, label, target = m.groups()
        if code is not None:
            out.append(fmt("<code>{c}</code>", c=code))
        elif bold is not None:
            out.append(fmt("<b>{b}</b>", b=bold))
        elif target.startswith(("https://", "http://")):
            out.append(fmt('<a href="{t}">{label}</a>', t=target, label=label))
        else:
            out.append(esc(label))
        pos = m.end()
    out.append(esc(text[pos:]))
    return join(out)


def _heading(line: str) -> Markup | None:
    m = re.match(r"(#{1,4}) (.*)", line)
    if m is None:
        return None
    level = min(len(m.group(1)) + 1, 4)
    return fmt('<h{n} id="{id}">{t}</h{n}>', n=level, id=slug(m.group(2)), t=_inline(m.group(2)))


def markdown_html(text: str) -> Markup:
    """The small Markdown our docs use (headings, paragraphs, lists, code blocks; tables
    shown as text) as escaped HTML; headings carry GitHub's anchors."""
    parts: list[Markup] = []
    # Odd pieces between ``` fences are code blocks (the fence line's language dropped).
    for index, piece in enumerate(re.split(r"^```.*$", text, flags=re.M)):
        if index % 2:
            parts.append(fmt("<pre><code>{c}</code></pre>", c=piece.strip("\n")))
        else:
            parts.extend(_prose(piece))
    return join(parts)


def _table(rows: list[list[str]]) -> Markup:
    head, *body = rows
    return fmt(
        '<div class="table-wrap-x"><table class="grid"><thead><tr>{h}</tr></thead>'
        "<tbody>{b}</tbody></table></div>",
        h=join(fmt('<th scope="col">{c}</th>', c=_inline(c)) for c in head),
        b=join(
            fmt("<tr>{r}</tr>", r=join(fmt("<td>{c}</td>", c=_inline(c)) for c in row))
            for row in body
        ),
    )


class _Prose:
    """Markdown outside code blocks, one line at a time: paragraphs, lists, tables, headings."""

    def __init__(self) -> None:
        self.parts: list[Markup] = []
        self.para: list[str] = []
        self.items: list[str] = []
        self.rows: list[list[str]] = []

    def flush(self) -> None:
        if self.rows:
            self.parts.append(_table(self.rows))
        if self.para:
            self.parts.append(fmt("<p>{t}</p>", t=_inline(" ".join(self.para))))
        if self.items:
            items = join(fmt("<li>{t}</li>", t=_inline(i)) for i in self.items)
            self.parts.append(fmt("<ul>{i}</ul>", i=items))
        self.rows, self.para, self.items = [], [], []

    def line(self, line: str) -> None:
        if line.startswith("|"):
            self.table_row(line)
        elif heading := _heading(line):
            self.flush()
            self.parts.append(heading)
        elif m := re.match(r"\s*[-*] (.*)", line):
            if self.para or self.rows:
                self.flush()
            self.items.append(m.group(1))
        elif not line.strip():
            self.flush()
        elif self.items and line.startswith("  "):
            self.items[-1] += " " + line.strip()
        else:
            if self.rows:
                self.flush()
            self.para.append(line.strip())

    def table_row(self, line: str) -> None:
        if self.para or self.items:
            self.flush()
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not all(re.fullmatch(r":?-+:?", c) for c in cells):
            self.rows.append(cells)


def _prose(text: str) -> list[Markup]:
    prose = _Prose()
    for line in text.splitlines():
        prose.line(line)
    prose.flush()
    return prose.parts


@cache
def _help_body() -> Markup:
    try:
        text = TROUBLESHOOTING.read_text(encoding="utf-8")
    except OSError:
        return Markup("<p>The troubleshooting guide is docs/troubleshooting.md in the source.</p>")
    # The file's own "# Troubleshooting" heading is the page title.
    return markdown_html(re.sub(r"\A# .*\n", "", text))


def framed(title: str, body: Markup, *, status: int = 200) -> web.Response:
    """A page without a session (help, not found): the layout's frame, no navigation."""
    html = page(
        "layout.html",
        title=title,
        product=PRODUCT,
        nav=Markup('<a href="/links">Links</a>'),
        who="",
        help=help_link("not_found"),
        flash="",
        body=body,
        csrf="",
    )
    return web.Response(text=html, content_type="text/html", status=status)


async def help_page(request: web.Request) -> web.Response:
    return framed("Troubleshooting", Markup(f'<div class="card doc">{_help_body()}</div>'))


def not_found_body(what: str = "page") -> Markup:
    return fmt(
        '<section class="card" aria-labelledby="nf-title"><h2 id="nf-title">There is no such'
        " {what} here</h2><p>The link may be mistyped, or the item was removed, or your"
        ' account may not see it.</p><p><a class="button" href="/links">Go to the list of'
        " links</a></p></section>",
        what=what,
    )
