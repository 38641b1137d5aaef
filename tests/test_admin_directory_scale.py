"""The users <-> extensions view stays usable for a 10,000-user tenant: paged, searchable,
both as JSON and as the page (speed is measured by bench/directory_view.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_admin_scale import large_tenant


@pytest.mark.slow
async def test_ten_thousand_users_in_the_directory_view(tmp_path: Path) -> None:
    async with large_tenant(tmp_path, users=10_000, extensions=1_000) as (http, link):
        api = f"/api/links/{link.id}/directory"
        async with http.get(f"{api}?offset=5000&limit=50") as r:
            page = await r.json()
        assert page["total"] > 5000 and len(page["rows"]) == 50
        states = {row["state"] for row in page["rows"]}
        assert states <= {"linked", "no_extension", "email_conflict"}, states
        async with http.get(f"{api}?q=linked&limit=200") as r:
            linked = await r.json()
        assert 0 < linked["total"] < page["total"]
        assert all(row["number"] for row in linked["rows"])
        async with http.get(f"{api}?view=extensions&limit=200") as r:
            spare = await r.json()
        assert spare["total"] == spare["extensions_total"]
        async with http.get(f"/links/{link.id}/directory?offset=5000") as r:
            html = await r.text()
        assert r.status == 200
        assert html.count('<tr data-state="') == 50
        shown = re.search(r"5,001 to 5,050 of ([\d,]+)", html)
        assert shown and int(shown.group(1).replace(",", "")) == page["total"]
