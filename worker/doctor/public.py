"""The public URL, seen the way Microsoft sees it: https, a certificate from a CA in the
system trust store, and the validation handshake answered through the public name.

The trust store is a parameter (`trust`), never read from an environment variable: a test
passes a context that trusts its own CA; the CLI and the page always use the system store,
so a certificate only our test CA (or a private CA) vouches for fails here as it would at
Microsoft. The handshake is what Graph sends before it creates a subscription
(https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks, "Notification
endpoint validation"): a POST with `?validationToken=...`, answered within 10 seconds with
200, Content-Type text/plain, and the token as the body."""

from __future__ import annotations

import ssl
import uuid
from urllib.parse import quote, urlsplit

import aiohttp

from worker.doctor.report import Check, failed, not_checked, passed
from worker.subscriptions import notification_urls

HTTPS = "Public URL is https"
CERTIFICATE = "Public URL's certificate verifies against the system trust store"
HANDSHAKE = "Public URL answers Graph's validation handshake"
HANDSHAKE_TIMEOUT_S = 10.0  # Graph's limit


def system_trust() -> ssl.SSLContext:
    return ssl.create_default_context()


def https_check(public_url: str | None) -> Check:
    if public_url is None:
        return failed(
            "public_url_https",
            HTTPS,
            "M365SYNC_PUBLIC_URL is not set: Microsoft cannot send change notifications",
            "Set M365SYNC_PUBLIC_URL to the https address Microsoft reaches this daemon at "
            "(for example https://sync.example.com, see docs/reverse-proxy.md) and restart it.",
        )
    if urlsplit(public_url).scheme != "https":
        return failed(
            "public_url_https",
            HTTPS,
            f"{public_url} is plain http; Graph only delivers to https",
            "Put the daemon behind a reverse proxy with a public certificate (or set "
            "M365SYNC_TLS_CERT and M365SYNC_TLS_KEY) and set M365SYNC_PUBLIC_URL to its "
            "https:// address (docs/reverse-proxy.md).",
        )
    return passed("public_url_https", HTTPS, public_url)


async def public_checks(public_url: str | None, trust: ssl.SSLContext) -> list[Check]:
    first = https_check(public_url)
    if not first.ok or public_url is None:
        return [
            first,
            not_checked("public_url_certificate", CERTIFICATE, HTTPS),
            not_checked("public_url_handshake", HANDSHAKE, HTTPS),
        ]
    notification_url, lifecycle_url = notification_urls(public_url)
    timeout = aiohttp.ClientTimeout(total=HANDSHAKE_TIMEOUT_S, sock_connect=HANDSHAKE_TIMEOUT_S)
    connector = aiohttp.TCPConnector(ssl=trust)
    # trust_env=False: a proxy from the environment must not stand in for the public name.
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False
    ) as session:
        try:
            problem = await _handshake(session, notification_url)
        except aiohttp.ClientSSLError as exc:
            return [first, _certificate_failure(public_url, exc), _blocked_handshake()]
        except (aiohttp.ClientError, TimeoutError) as exc:
            return [first, _unreachable(public_url, exc), _blocked_handshake()]
        if problem is None:
            try:
                problem = await _handshake(session, lifecycle_url)
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{lifecycle_url}: {type(exc).__name__}: {exc}"
    certificate = passed("public_url_certificate", CERTIFICATE, urlsplit(public_url).netloc)
    if problem is not None:
        return [first, certificate, _handshake_failure(problem)]
    return [first, certificate, passed("public_url_handshake", HANDSHAKE, "both endpoints")]


async def _handshake(session: aiohttp.ClientSession, url: str) -> str | None:
    """None when the endpoint echoed the token as Graph requires; else what went wrong."""
    # Like Graph's: spaces and colons, so an endpoint that echoes the raw query fails.
    token = f"Validation: m365sync doctor check Request-Id: {uuid.uuid4()}"
    target = f"{url}?validationToken={quote(token, safe='')}"
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    try:
        async with session.post(
            target, data=b"", headers=headers, allow_redirects=False
        ) as response:
            body = await response.text()
            status = response.status
            content_type = response.content_type
    except aiohttp.ConnectionTimeoutError:
        raise  # no connection, so nothing about the handshake is known
    except TimeoutError:
        return f"{url}: no answer within {HANDSHAKE_TIMEOUT_S:.0f} s"
    if status != 200:
        return f"{url}: HTTP {status} instead of 200"
    if content_type != "text/plain":
        return f"{url}: Content-Type {content_type} instead of text/plain"
    if body != token:
        return f"{url}: the body is not the validationToken (decoded)"
    return None


def _certificate_failure(public_url: str, exc: Exception) -> Check:
    return failed(
        "public_url_certificate",
        CERTIFICATE,
        f"{urlsplit(public_url).netloc}: {exc}",
        "Microsoft only delivers to a certificate from a public CA, valid for the public name "
        "and sent with its intermediate certificates: install one on the reverse proxy (for "
        "example from Let's Encrypt) — a self-signed or private-CA certificate does not work.",
    )


def _unreachable(public_url: str, exc: Exception) -> Check:
    return failed(
        "public_url_certificate",
        CERTIFICATE,
        f"cannot connect to {urlsplit(public_url).netloc}: {type(exc).__name__}: {exc}",
        "The public name must resolve and accept HTTPS from the internet: check DNS, the "
        "firewall or port forwarding, and that the reverse proxy is running.",
    )


def _blocked_handshake() -> Check:
    return not_checked("public_url_handshake", HANDSHAKE, CERTIFICATE)


def _handshake_failure(problem: str) -> Check:
    return failed(
        "public_url_handshake",
        HANDSHAKE,
        problem,
        "The reverse proxy must pass POST /graph/notifications and /graph/lifecycle, with "
        "their query string, to the daemon, unchanged and within 10 s (test it with the curl "
        'in docs/reverse-proxy.md, "Checking the setup").',
    )
