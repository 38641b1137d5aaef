"""The PBX emulator's authentication: HTTP Basic scopes and both session flows."""

from __future__ import annotations

import hashlib
import re

import aiohttp

from emulators.pbx import PbxEmulator
from tests.plugins.pbx_emulator import MakePbx, admin_headers, basic, tenant_headers

_KEY = re.compile(r'^"[A-Za-z0-9]{20}"$')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


async def test_session_probe_needs_no_login(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """GET /rest/system/session answers 200 without credentials and sets no cookie."""
    async with plain_http.get(f"{pbx.url}/rest/system/session") as response:
        assert response.status == 200
        assert "Set-Cookie" not in response.headers
        assert isinstance(await response.json(), dict)


async def test_missing_or_wrong_credentials_are_401(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """No Authorization and a wrong password both give 401 with a Basic challenge."""
    path = f"{pbx.url}/rest/domain/{pbx.domain}/settings"
    async with plain_http.get(path) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    async with plain_http.get(path, headers=basic("admin", "wrong")) as response:
        assert response.status == 401
    async with plain_http.get(path, headers=basic(f"admin@{pbx.domain}", "wrong")) as response:
        assert response.status == 401


async def test_system_admin_and_tenant_admin_read_their_domain(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """Both the system admin and admin@{domain} may read the tenant's settings."""
    path = f"{pbx.url}/rest/domain/{pbx.domain}/settings"
    for headers in (admin_headers(pbx), tenant_headers(pbx)):
        async with plain_http.get(path, headers=headers) as response:
            assert response.status == 200


async def test_tenant_admin_out_of_scope_is_403(
    make_pbx: MakePbx, plain_http: aiohttp.ClientSession
) -> None:
    """A tenant admin gets 403 on another tenant and on /rest/system/*."""
    pbx = await make_pbx(domains=("a.example", "b.example"))
    headers = tenant_headers(pbx, "a.example")
    async with plain_http.get(
        f"{pbx.url}/rest/domain/b.example/users", headers=headers
    ) as response:
        assert response.status == 403
    async with plain_http.get(f"{pbx.url}/rest/system/domains", headers=headers) as response:
        assert response.status == 403
    async with plain_http.get(
        f"{pbx.url}/rest/domain/a.example/users", headers=headers
    ) as response:
        assert response.status == 200


async def test_unknown_domain_is_404_for_the_system_admin(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """The system admin asking for a domain that does not exist gets 404."""
    url = f"{pbx.url}/rest/domain/nope.example/users"
    async with plain_http.get(url, headers=admin_headers(pbx)) as response:
        assert response.status == 404


async def test_legacy_md5_login_gives_a_session_cookie(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """PUT session with "user md5" answers a quoted 20-char key usable as the session cookie."""
    body = {"name": "auth", "value": f"admin {_md5(pbx.config.admin_password)}"}
    async with plain_http.put(f"{pbx.url}/rest/system/session", json=body) as response:
        assert response.status == 200
        text = await response.text()
        assert _KEY.match(text)
        assert response.headers["Set-Cookie"].startswith(f"session={text[1:-1]};")
    cookie = {"Cookie": f"session={text[1:-1]}"}
    async with plain_http.get(f"{pbx.url}/rest/system/domains", headers=cookie) as response:
        assert response.status == 200
    async with plain_http.delete(f"{pbx.url}/rest/system/session", headers=cookie) as response:
        assert response.status == 200
    async with plain_http.get(f"{pbx.url}/rest/system/domains", headers=cookie) as response:
        assert response.status == 401


async def test_legacy_md5_login_of_a_tenant_admin_keeps_tenant_scope(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """A tenant admin's md5 session reads its domain but gets 403 on system endpoints."""
    user = f"admin@{pbx.domain}"
    body = {"name": "auth", "value": f"{user} {_md5(pbx.config.tenant_admin_password)}"}
    async with plain_http.put(f"{pbx.url}/rest/system/session", json=body) as response:
        cookie = {"Cookie": f"session={(await response.json())}"}
    async with plain_http.get(
        f"{pbx.url}/rest/domain/{pbx.domain}/users", headers=cookie
    ) as response:
        assert response.status == 200
    async with plain_http.get(f"{pbx.url}/rest/system/domains", headers=cookie) as response:
        assert response.status == 403


async def test_legacy_md5_login_with_a_wrong_password_is_401(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """A wrong md5 gives 401 and no cookie."""
    body = {"name": "auth", "value": f"admin {_md5('wrong')}"}
    async with plain_http.put(f"{pbx.url}/rest/system/session", json=body) as response:
        assert response.status == 401
        assert "Set-Cookie" not in response.headers


async def _third_party_token(pbx: PbxEmulator, plain_http: aiohttp.ClientSession) -> str:
    body = {"name": "3rd", "domain": pbx.domain, "admin": True}
    async with plain_http.post(
        f"{pbx.url}/rest/system/session", json=body, headers=admin_headers(pbx)
    ) as response:
        assert response.status == 200
        text = await response.text()
    assert _KEY.match(text)
    return text[1:-1]


async def test_token_flow_exchanges_once_for_a_tenant_admin_session(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """A 3rd token exchanges to true + cookie once; a second exchange answers false."""
    token = await _third_party_token(pbx, plain_http)
    exchange = {"name": "session", "value": token}
    async with plain_http.post(f"{pbx.url}/rest/system/session", json=exchange) as response:
        assert await response.json() is True
        cookie_header = response.headers["Set-Cookie"]
    assert cookie_header.startswith(f"session={token};")
    assert "HttpOnly" in cookie_header and "SameSite=Strict" in cookie_header
    cookie = {"Cookie": f"session={token}"}
    async with plain_http.get(
        f"{pbx.url}/rest/domain/{pbx.domain}/users", headers=cookie
    ) as response:
        assert response.status == 200
    async with plain_http.get(f"{pbx.url}/rest/system/domains", headers=cookie) as response:
        assert response.status == 403
    async with plain_http.post(f"{pbx.url}/rest/system/session", json=exchange) as response:
        assert await response.json() is False


async def test_token_expires_after_ten_emulated_seconds(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """A 3rd token exchanged after 10 emulated seconds answers false."""
    token = await _third_party_token(pbx, plain_http)
    pbx.clock.advance(11)
    exchange = {"name": "session", "value": token}
    async with plain_http.post(f"{pbx.url}/rest/system/session", json=exchange) as response:
        assert response.status == 200
        assert await response.json() is False
        assert "Set-Cookie" not in response.headers


async def test_only_the_system_admin_issues_tokens(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """A tenant admin asking for a 3rd token gets 403; no credentials get 401."""
    body = {"name": "3rd", "domain": pbx.domain}
    url = f"{pbx.url}/rest/system/session"
    async with plain_http.post(url, json=body, headers=tenant_headers(pbx)) as response:
        assert response.status == 403
    async with plain_http.post(url, json=body) as response:
        assert response.status == 401


async def test_expired_session_cookie_is_401(
    pbx: PbxEmulator, plain_http: aiohttp.ClientSession
) -> None:
    """A session past the web session timeout is refused with 401."""
    body = {"name": "auth", "value": f"admin {_md5(pbx.config.admin_password)}"}
    async with plain_http.put(f"{pbx.url}/rest/system/session", json=body) as response:
        cookie = {"Cookie": f"session={await response.json()}"}
    pbx.clock.advance(pbx.config.session_timeout_s + 1)
    async with plain_http.get(f"{pbx.url}/rest/system/domains", headers=cookie) as response:
        assert response.status == 401
