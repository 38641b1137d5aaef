"""`m365sync doctor`'s checks against the emulators: every check passes on a healthy link,
and each fault an admin can meet turns exactly its line to ✗ with the fix in words."""

from __future__ import annotations

import time
from dataclasses import replace

from store.links import set_link_state, set_secret, update_link
from store.models import LinkState
from store.subscriptions import link_subscriptions
from tests.plugins.doctor import DoctorEnv, in_days, serve_plain_https
from worker.doctor import ORDER, Check, Report
from worker.linkadmin import save_settings
from worker.linkctx import CLIENT_SECRET, PBX_PASSWORD


def checks(report: Report) -> dict[str, Check]:
    return {check.id: check for check in report.checks}


def failing(report: Report) -> list[str]:
    return [check.id for check in report.failures]


async def test_healthy_link_passes_every_check_and_writes_nothing(doctor_env: DoctorEnv) -> None:
    """All ✓, in the documented order, and neither Microsoft 365, the PBX nor the store
    saw a write: the emulators' request counters hold only GETs."""
    env = doctor_env
    subs_before = await link_subscriptions(env.db, env.link.id)
    remote_before = [s.to_json() for s in env.emus.graph.context.subscriptions.all()]
    graph_before = env.emus.graph.api_requests_by_method
    pbx_before = dict(env.emus.pbx.state.requests_by_method)

    report = await env.doctor()

    assert report.ok, "\n".join(report.lines())
    assert [c.id for c in report.checks] == [i for i in ORDER if i != "graph_groups"]
    graph_after = env.emus.graph.api_requests_by_method
    pbx_after = dict(env.emus.pbx.state.requests_by_method)
    assert {m for m in graph_after if graph_after[m] != graph_before.get(m, 0)} == {"GET"}
    assert {m for m in pbx_after if pbx_after[m] != pbx_before.get(m, 0)} == {"GET"}
    assert [s.to_json() for s in env.emus.graph.context.subscriptions.all()] == remote_before
    assert await link_subscriptions(env.db, env.link.id) == subs_before


async def test_wrong_client_secret(doctor_env: DoctorEnv) -> None:
    await set_secret(doctor_env.db, doctor_env.link.id, CLIENT_SECRET, "not-the-secret")
    found = checks(await doctor_env.doctor())
    assert not found["token"].ok
    assert "AADSTS7000215" in found["token"].detail
    assert "--client-secret" in found["token"].fix and "Value" in found["token"].fix
    assert found["graph_users"].detail.startswith("not checked")
    assert found["pbx_range"].ok  # the PBX side is judged on its own


async def test_no_admin_consent(doctor_env: DoctorEnv) -> None:
    """Entra issues a token without `roles`; the doctor names the permission and Graph's 403."""
    env = doctor_env
    env.emus.graph.identity.revoke_admin_consent(env.emus.info["client_id"])
    report = await env.doctor()
    found = checks(report)
    assert found["token"].ok
    assert not found["permissions"].ok
    assert "missing User.Read.All" in found["permissions"].detail
    assert "Grant admin consent" in found["permissions"].fix
    assert "Application permission User.Read.All" in found["permissions"].fix
    assert not found["graph_users"].ok and "403" in found["graph_users"].detail


async def test_tenant_id_given_as_a_domain(doctor_env: DoctorEnv) -> None:
    """The token still comes (Entra takes a domain), but the fix names the GUID from `tid`."""
    env = doctor_env
    await update_link(env.db, env.link.id, tenant_id=env.emus.info["tenant_domain"])
    report = await env.doctor()
    assert failing(report) == ["tenant_id"]
    fix = checks(report)["tenant_id"].fix
    assert f"tenant_id={env.emus.info['tenant_id']}" in fix


async def test_unreachable_graph(doctor_env: DoctorEnv) -> None:
    env = doctor_env
    dead = await serve_plain_https(env.webhook_ca)
    dead_url = dead.origin
    await dead.runner.cleanup()  # the port is closed now
    await update_link(env.db, env.link.id, graph_url=dead_url)
    found = checks(await env.doctor())
    assert found["token"].ok  # the identity platform is elsewhere and fine
    assert not found["graph"].ok
    assert "Check network connectivity to Microsoft Graph API" in found["graph"].fix
    for later in ("graph_users", "subscription", "subscription_url", "subscription_expiry"):
        assert found[later].detail == "not checked: 'Microsoft Graph is reachable' failed"


async def test_plain_http_public_url(doctor_env: DoctorEnv) -> None:
    env = doctor_env
    http_url = env.settings.public_url.replace("https://", "http://")  # type: ignore[union-attr]
    report = await env.doctor(settings=replace(env.settings, public_url=http_url))
    found = checks(report)
    assert not found["public_url_https"].ok
    assert "Graph only delivers to https" in found["public_url_https"].detail
    assert found["public_url_certificate"].detail.startswith("not checked")


async def test_public_certificate_from_an_untrusted_ca(doctor_env: DoctorEnv) -> None:
    """By default the doctor trusts only the system store: our test CA is not in it."""
    env = doctor_env
    report = await env.doctor(public_trust=None)
    found = checks(report)
    assert not found["public_url_certificate"].ok
    assert "CERTIFICATE_VERIFY_FAILED" in found["public_url_certificate"].detail
    assert "public CA" in found["public_url_certificate"].fix
    assert failing(report) == ["public_url_certificate", "public_url_handshake"]


async def test_handshake_not_answered(doctor_env: DoctorEnv) -> None:
    """The public name answers HTTPS with a good certificate, but not the daemon's routes."""
    env = doctor_env
    other = await serve_plain_https(env.webhook_ca)
    try:
        report = await env.doctor(settings=replace(env.settings, public_url=other.origin))
    finally:
        await other.runner.cleanup()
    found = checks(report)
    assert found["public_url_certificate"].ok
    assert not found["public_url_handshake"].ok
    assert "HTTP 404 instead of 200" in found["public_url_handshake"].detail
    assert "reverse-proxy.md" in found["public_url_handshake"].fix
    # The stored subscription points at the real public URL, not at this one.
    assert not found["subscription_url"].ok


async def test_subscription_gone_from_graph(doctor_env: DoctorEnv) -> None:
    env = doctor_env
    (ours,) = await link_subscriptions(env.db, env.link.id)
    env.emus.graph.context.subscriptions.remove(ours.id)
    report = await env.doctor()
    assert failing(report) == ["subscription", "subscription_url", "subscription_expiry"]
    assert "no longer has subscription" in checks(report)["subscription"].detail
    assert "subscription upkeep failed" in checks(report)["subscription"].fix


async def test_subscription_near_expiry(doctor_env: DoctorEnv) -> None:
    report = await doctor_env.doctor(now=time.time() + 28 * 86400)
    assert failing(report) == ["subscription_expiry"]
    assert "m365sync serve" in checks(report)["subscription_expiry"].fix


async def test_wrong_pbx_password(doctor_env: DoctorEnv) -> None:
    await set_secret(doctor_env.db, doctor_env.link.id, PBX_PASSWORD, "wrong-password")
    report = await doctor_env.doctor()
    found = checks(report)
    assert found["pbx_answers"].ok
    assert not found["pbx_credentials"].ok and "401" in found["pbx_credentials"].detail
    assert "--pbx-password" in found["pbx_credentials"].fix
    assert failing(report) == ["pbx_credentials", "pbx_api_access", "pbx_domain", "pbx_range"]


async def test_unknown_pbx_domain(doctor_env: DoctorEnv) -> None:
    """As the system administrator, an unknown domain is a 404 (a tenant admin gets 401)."""
    env = doctor_env
    info = env.emus.info
    await update_link(env.db, env.link.id, pbx_user=info["pbx_admin"], pbx_domain="nosuch.example")
    await set_secret(env.db, env.link.id, PBX_PASSWORD, info["pbx_admin_password"])
    report = await env.doctor()
    assert failing(report) == ["pbx_domain", "pbx_range"]
    assert "pbx_domain=" in checks(report)["pbx_domain"].fix


async def test_pbx_account_without_access_to_the_domain(doctor_env: DoctorEnv) -> None:
    """Valid credentials for another tenant: the PBX answers 403."""
    env = doctor_env
    await update_link(env.db, env.link.id, pbx_domain="other.example")
    report = await env.doctor()
    assert failing(report) == ["pbx_api_access", "pbx_domain", "pbx_range"]
    assert "API access" in checks(report)["pbx_api_access"].fix


async def test_unreachable_pbx(doctor_env: DoctorEnv) -> None:
    env = doctor_env
    await update_link(env.db, env.link.id, pbx_url="http://127.0.0.1:9")
    report = await env.doctor()
    assert failing(report)[0] == "pbx_answers"
    assert "reachable from this host" in checks(report)["pbx_answers"].fix


async def test_full_range(doctor_env: DoctorEnv) -> None:
    """Numbers in use on the PBX and reserved ones leave nothing free."""
    env = doctor_env
    env.emus.pbx.state.add_extension("200")
    settings = {**env.link.settings, "ranges": "200-202", "reserved": "201-202"}
    await save_settings(env.db, env.link.id, settings)
    report = await env.doctor()
    assert failing(report) == ["pbx_range"]
    assert "200-202: no free number" in checks(report)["pbx_range"].detail
    assert "Ensure extension numbers are within allowed range" in checks(report)["pbx_range"].fix


async def test_client_secret_expiring_soon_or_unrecorded(doctor_env: DoctorEnv) -> None:
    env = doctor_env
    await save_settings(
        env.db, env.link.id, {**env.link.settings, "client_secret_expires": in_days(5)}
    )
    report = await env.doctor()
    assert failing(report) == ["credential_expiry"]
    assert "(5 days)" in checks(report)["credential_expiry"].detail
    assert "--client-secret" in checks(report)["credential_expiry"].fix

    unrecorded = {k: v for k, v in env.link.settings.items() if k != "client_secret_expires"}
    await save_settings(env.db, env.link.id, unrecorded)
    report = await env.doctor()
    assert failing(report) == ["credential_expiry"]
    assert "client_secret_expires=YYYY-MM-DD" in checks(report)["credential_expiry"].fix


async def test_setup_required_reason_is_shown_with_its_fix(doctor_env: DoctorEnv) -> None:
    env = doctor_env
    reason = "The sign-in has expired; run OAuth Token again. (invalid_grant: AADSTS700082)"
    await set_link_state(env.db, env.link.id, LinkState.SETUP_REQUIRED, reason)
    report = await env.doctor()
    assert failing(report) == ["setup_required"]
    assert reason in checks(report)["setup_required"].detail
    assert 'Click "OAuth Token" again' in checks(report)["setup_required"].fix


async def test_no_public_url(doctor_env: DoctorEnv) -> None:
    env = doctor_env
    report = await env.doctor(settings=replace(env.settings, public_url=None))
    found = checks(report)
    assert not found["public_url_https"].ok and not found["subscription"].ok
    assert "sweep every 12 hours" in found["subscription"].detail
    assert "M365SYNC_PUBLIC_URL" in found["public_url_https"].fix


async def test_unusable_urls_are_failures_not_crashes(doctor_env: DoctorEnv) -> None:
    """Link fields are free text: the doctor reports them, it never raises."""
    env = doctor_env
    await update_link(
        env.db,
        env.link.id,
        authority_url="ftp://login.example",
        graph_url="not a url",
        pbx_url="nowhere",
    )
    found = checks(await env.doctor())
    assert not found["token"].ok and "authority_url" in found["token"].fix
    assert not found["graph"].ok
    assert not found["pbx_answers"].ok
