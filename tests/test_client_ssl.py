"""Links that trust the same CA bundle share one TLS context (memory with hundreds of
links); a bundle replaced on disk is loaded afresh; no bundle means the system store."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from emulators.tls import create_test_ca
from store import Database
from store.links import create_link
from tests.plugins.store import sample_link
from worker.linkctx import client_ssl
from worker.settings import Settings


async def test_links_with_one_bundle_share_one_context(db: Database, tmp_path: Path) -> None:
    bundle = create_test_ca(tmp_path / "ca").ca_path
    first = replace(await create_link(db, sample_link("a")), ca_bundle=str(bundle))
    second = replace(await create_link(db, sample_link("b")), ca_bundle=str(bundle))
    settings = Settings()
    context = client_ssl(first, settings)
    assert context is not None
    assert client_ssl(second, settings) is context
    # Replaced on disk (a renewed CA): a new context with the new file.
    create_test_ca(tmp_path / "ca")
    stat = os.stat(bundle)
    os.utime(bundle, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    renewed = client_ssl(first, settings)
    assert renewed is not None and renewed is not context
    assert client_ssl(replace(first, ca_bundle=None), settings) is None
