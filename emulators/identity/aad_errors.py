"""Entra ID's token-endpoint error body, as documented (graph-api.md §4.3).

{"error": "invalid_client",
 "error_description": "AADSTS7000215: Invalid client secret provided. ...\r\n
                       Trace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: ...",
 "error_codes": [7000215], "timestamp": "...", "trace_id": "...",
 "correlation_id": "...", "error_uri": "https://login.microsoftonline.com/error?code=7000215"}
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web


class AadError(Exception):
    """A refusal of the token endpoint (or a redirect error of /authorize)."""

    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(f"{error} AADSTS{code}: {message}")
        self.status = status
        self.error = error
        self.code = code
        self.message = message

    def body(self, correlation_id: str | None = None, now_s: float | None = None) -> dict[str, Any]:
        trace_id = str(uuid.uuid4())
        correlation_id = correlation_id or str(uuid.uuid4())
        timestamp = _timestamp(time.time() if now_s is None else now_s)
        description = (
            f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        )
        return {
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
        }

    def response(
        self, correlation_id: str | None = None, now_s: float | None = None
    ) -> web.Response:
        return web.Response(
            status=self.status,
            text=json.dumps(self.body(correlation_id, now_s)),
            content_type="application/json",
            headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    def short_description(self) -> str:
        return f"AADSTS{self.code}: {self.message}"


def _timestamp(now_s: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(now_s))


def invalid_request(message: str, code: int = 900144) -> AadError:
    return AadError(400, "invalid_request", code, message)


def invalid_grant(code: int, message: str) -> AadError:
    return AadError(400, "invalid_grant", code, message)


def bad_client_secret(client_id: str) -> AadError:
    return AadError(
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.",
    )


def expired_client_secret(client_id: str) -> AadError:
    return AadError(
        401,
        "invalid_client",
        7000222,
        f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
        "portal to create new keys for your app.",
    )


def unknown_application(client_id: str, tenant_id: str) -> AadError:
    return AadError(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory "
        f"'{tenant_id}'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant.",
    )


def unknown_tenant(tenant: str) -> AadError:
    return AadError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def consent_missing(client_id: str) -> AadError:
    return invalid_grant(
        65001,
        "The user or administrator has not consented to use the application with ID "
        f"'{client_id}'. Send an interactive authorization request for this user and resource.",
    )
