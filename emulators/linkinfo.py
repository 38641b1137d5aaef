"""How to reach the running emulators, as a link needs it: the fields of `emulator.json`
under the names m365sync's link uses. Plain values only: the emulators import nothing of
the product, the product (demo, tests, benchmarks) builds its link from these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def link_fields(info: Mapping[str, Any]) -> dict[str, str]:
    """Where the emulated tenant and PBX are, and the CA to trust for them."""
    return {
        "tenant_id": info["tenant_id"],
        "client_id": info["client_id"],
        "pbx_url": info["pbx_url"],
        "pbx_domain": info["pbx_domain"],
        "pbx_user": info["pbx_tenant_admin"],
        "authority_url": info["authority_url"],
        "graph_url": info["graph_url"],
        "ca_bundle": info["ca_path"],
    }


def link_secrets(info: Mapping[str, Any]) -> dict[str, str]:
    """The PBX tenant admin's password and the app registration's client secret."""
    return {
        "pbx_password": info["pbx_tenant_admin_password"],
        "client_secret": info["client_secret"],
    }
