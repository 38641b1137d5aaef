"""VodiaClient failure handling: silent no-op creates, 401 vs 403, retries, no DELETE ever."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import time
from pathlib import Path

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

import worker.vodia
from emulators.faults import FaultRule
from emulators.pbx import PbxEmulator
from tests.plugins.pbx_emulator import MakePbx
from worker.errors import (
    PbxAuthError,
    PbxError,
    PbxForbiddenError,
    PbxNotFoundError,
    PbxWriteNotApplied,
    TransientError,
)
from worker.vodia import VodiaClient
from worker.vodia.transport import PbxTransport


def _admin_client(pbx: PbxEmulator, retries: int = 4) -> VodiaClient:
    return VodiaClient(
        pbx.url,
        pbx.domain,
        pbx.config.admin_user,
        pbx.config.admin_password,
        retries=retries,
        backoff_s=0.01,
    )


async def test_create_silently_ignored_by_the_pbx_is_a_failure(pbx: PbxEmulator) -> None:
    """addacc answering 200 without creating anything raises PbxWriteNotApplied."""
    pbx.faults.add(FaultRule(path_pattern="/addacc", kind="status", status=200))
    async with _admin_client(pbx) as client:
        with pytest.raises(PbxWriteNotApplied):
            await client.create_extension("1005", {"first_name": "Ann"})
    assert pbx.state.get("1005") is None


async def test_field_write_silently_ignored_is_a_failure(pbx: PbxEmulator) -> None:
    """A user_settings write answered 200 but not applied raises PbxWriteNotApplied."""
    pbx.state.add_extension("1001", first_name="Ann")
    pbx.faults.add(
        FaultRule(path_pattern="/user_settings/", kind="status", status=200, method="POST")
    )
    async with _admin_client(pbx) as client:
        with pytest.raises(PbxWriteNotApplied):
            await client.update_extension("1001", {"first_name": "Anna"})


async def test_disable_silently_ignored_is_a_failure(pbx: PbxEmulator) -> None:
    """domain_action answering {} without disabling raises PbxWriteNotApplied."""
    pbx.state.add_extension("1001")
    pbx.faults.add(FaultRule(path_pattern="/domain_action", kind="status", status=200))
    async with _admin_client(pbx) as client:
        with pytest.raises(PbxWriteNotApplied):
            await client.disable(["1001"])


async def test_wrong_password_is_an_auth_error(pbx: PbxEmulator) -> None:
    """A 401 from the PBX raises PbxAuthError, not PbxForbiddenError, and is not retried."""
    async with VodiaClient(pbx.url, pbx.domain, "admin", "wrong", backoff_s=0.01) as client:
        with pytest.raises(PbxAuthError) as caught:
            await client.verify()
    assert not isinstance(caught.value, PbxForbiddenError) and caught.value.status == 401
    assert pbx.state.requests_by_method["GET"] == 1


async def test_wrong_scope_is_a_forbidden_error(make_pbx: MakePbx) -> None:
    """A tenant admin on another tenant's domain raises PbxForbiddenError."""
    pbx = await make_pbx(domains=("a.example", "b.example"))
    async with VodiaClient(
        pbx.url, "b.example", "admin@a.example", pbx.config.tenant_admin_password
    ) as client:
        with pytest.raises(PbxForbiddenError) as caught:
            await client.list_extensions()
    assert not isinstance(caught.value, PbxAuthError) and caught.value.status == 403


async def test_bad_request_is_a_pbx_error_and_not_retried(make_pbx: MakePbx) -> None:
    """A 400 from addacc (max_extensions reached) raises PbxError(status=400) at once."""
    pbx = await make_pbx(max_extensions=1)
    pbx.state.add_extension("1001")
    async with _admin_client(pbx) as client:
        with pytest.raises(PbxError) as caught:
            await client.create_extension("1002", {})
    assert caught.value.status == 400
    assert pbx.state.requests_by_method["POST"] == 1


async def test_unknown_domain_is_not_found(pbx: PbxEmulator) -> None:
    """verify() against a domain the PBX does not have raises PbxNotFoundError."""
    async with VodiaClient(
        pbx.url, "nope.example", pbx.config.admin_user, pbx.config.admin_password
    ) as client:
        with pytest.raises(PbxNotFoundError):
            await client.verify()


async def test_create_retried_after_a_lost_reply_succeeds_in_strict_mode(
    make_pbx: MakePbx,
) -> None:
    """addacc applied but its reply lost: the retry's strict 400 is recognised as done."""
    pbx = await make_pbx(strict_duplicates=True)
    lost = pbx.lost_replies.add("/addacc$")
    async with _admin_client(pbx) as client:
        created = await client.create_extension("1005", {"first_name": "Ann"})
    assert created.first_name == "Ann" and lost.hits == 1
    assert pbx.state.requests_by_method["POST"] == 3  # addacc, its retry, user_settings


async def test_503_storm_is_ridden_out(pbx: PbxEmulator) -> None:
    """Three 503s in a row on /users are retried and the listing succeeds."""
    pbx.state.add_extension("1001")
    rule = pbx.faults.add(FaultRule(path_pattern="/users$", kind="status", status=503, count=3))
    async with _admin_client(pbx) as client:
        assert [e.number for e in await client.list_extensions()] == ["1001"]
    assert rule.hits == 3


async def test_endless_503_gives_up_as_transient(pbx: PbxEmulator) -> None:
    """A PBX that keeps answering 503 raises TransientError after retries + 1 attempts."""
    rule = pbx.faults.add(FaultRule(path_pattern="/settings$", kind="status", status=503, count=-1))
    async with _admin_client(pbx, retries=3) as client:
        with pytest.raises(TransientError):
            await client.verify()
    assert rule.hits == 4


async def test_retry_after_is_honoured(pbx: PbxEmulator) -> None:
    """A 429 with Retry-After: 1 delays the retry by about a second."""
    pbx.faults.add(FaultRule(path_pattern="/settings$", kind="status", status=429, retry_after_s=1))
    async with _admin_client(pbx) as client:
        started = time.perf_counter()
        await client.verify()
    assert time.perf_counter() - started >= 1.0


async def test_connection_reset_by_the_pbx_is_retried(pbx: PbxEmulator) -> None:
    """Connections the emulator resets mid-request are retried until one succeeds."""
    pbx.state.add_extension("1001", first_name="Ann")
    rule = pbx.faults.add(FaultRule(path_pattern="/user_settings/1001", kind="reset", count=3))
    async with _admin_client(pbx) as client:
        extension = await client.get_extension("1001")
    assert extension is not None and extension.first_name == "Ann"
    assert rule.hits == 3


async def _cut_body_server(cuts: int) -> tuple[asyncio.Server, list[int]]:
    """A raw HTTP peer that promises a body, sends part of it and closes, `cuts` times."""
    body = json.dumps({"first_name": "Ann", "disabled": "false", "alias": ["1001"]}).encode()
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        served.append(1)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        writer.write(head + (body[:10] if len(served) <= cuts else body))
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), served


async def test_connection_cut_mid_body_is_retried() -> None:
    """A response cut off mid-body by the peer is retried until a whole one arrives."""
    server, served = await _cut_body_server(cuts=2)
    port = server.sockets[0].getsockname()[1]
    async with (
        server,
        VodiaClient(
            f"http://127.0.0.1:{port}", "d.example", "admin", "pw", backoff_s=0.01
        ) as client,
    ):
        extension = await client.get_extension("1001")
    assert extension is not None and extension.first_name == "Ann"
    assert len(served) == 3


async def test_network_errors_exhaust_retries_as_transient() -> None:
    """Payload errors and disconnects on every attempt end in TransientError (aioresponses)."""
    url = "http://pbx.invalid/rest/domain/d.example/settings"
    with aioresponses() as mocked:
        mocked.get(url, exception=aiohttp.ClientPayloadError("Response payload is not completed"))
        mocked.get(url, exception=aiohttp.ServerDisconnectedError())
        mocked.get(url, exception=aiohttp.ClientOSError(104, "Connection reset by peer"))
        async with VodiaClient(
            "http://pbx.invalid", "d.example", "admin", "pw", retries=2, backoff_s=0.01
        ) as client:
            with pytest.raises(TransientError):
                await client.verify()
        assert len(mocked.requests[("GET", URL(url))]) == 3


async def test_client_never_sends_delete(pbx: PbxEmulator) -> None:
    """Every public call together issues only GET and POST requests."""
    pbx.state.add_extension("1001")
    async with _admin_client(pbx) as client:
        await client.verify()
        await client.list_extensions()
        await client.get_extension("1001")
        await client.create_extension("1002", {"first_name": "Bo"})
        await client.update_extension("1002", {"display_name": "Lee"})
        await client.disable(["1001", "1002"])
        await client.enable(["1001"])
    assert set(pbx.state.requests_by_method) == {"GET", "POST"}


def test_client_has_no_delete_by_construction() -> None:
    """No public method deletes, the transport refuses DELETE, and no source names it."""
    public = [name for name, _ in inspect.getmembers(VodiaClient) if not name.startswith("_")]
    assert not [n for n in public if any(w in n for w in ("delete", "remove", "destroy"))]
    package_dir = Path(worker.vodia.__file__).parent
    for source in package_dir.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value.strip().upper() != "DELETE", source
            if isinstance(node, ast.Attribute):
                assert node.attr.lower() != "delete", source


async def test_transport_refuses_methods_other_than_get_and_post() -> None:
    """Even a private call with DELETE is refused before anything is sent."""
    transport = PbxTransport("http://pbx.invalid", "admin", "pw")
    with pytest.raises(ValueError, match="never DELETE"):
        await transport._send("DELETE", "/rest/domain/d/addacc/1001", None)  # type: ignore[arg-type]
