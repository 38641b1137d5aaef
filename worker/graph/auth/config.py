"""What both auth modes share: the link's identity settings, the provider protocols, and
how a refusal from the identity platform becomes an error an administrator can act on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from worker.errors import SetupRequired, TransientError

if TYPE_CHECKING:
    from store.models import Link

GRAPH_RESOURCE_HOSTS = frozenset(
    {
        "graph.microsoft.com",
        "graph.microsoft.us",
        "dod-graph.microsoft.us",
        "microsoftgraph.chinacloudapi.cn",
    }
)
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login-us.microsoftonline.com",
    }
)
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_GRAPH = "https://graph.microsoft.com"
_HINTS = {
    7000215: "The client secret is wrong.",
    7000222: "The client secret has expired; create a new one in Entra ID.",
    700016: "The application is not registered in this tenant.",
    90002: "The tenant was not found.",
    50173: "The sign-in was revoked; run OAuth Token again.",
    70008: "The sign-in has expired; run OAuth Token again.",
    700082: "The sign-in has expired; run OAuth Token again.",
    65001: "Admin consent is missing; run Admin Consent.",
    65004: "Admin consent was declined.",
}


class TokenProvider(Protocol):
    async def get_token(self, *, force_refresh: bool = False) -> str: ...

    async def close(self) -> None: ...


class TokenCacheStore(Protocol):
    async def load(self) -> str | None: ...

    async def save(self, blob: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AuthConfig:
    tenant_id: str
    client_id: str
    authority_url: str = DEFAULT_AUTHORITY
    graph_url: str = DEFAULT_GRAPH
    ca_bundle: str | None = None
    # Group scope reads /groups/{id}/transitiveMembers, which needs GroupMember.Read.All.
    group_scope: bool = False

    @classmethod
    def from_link(cls, link: Link) -> AuthConfig:
        return cls(
            link.tenant_id,
            link.client_id,
            link.authority_url,
            link.graph_url,
            link.ca_bundle,
            group_scope=link.settings.get("scope") == "groups",
        )

    @property
    def authority_host(self) -> str:
        return origin_of(self.authority_url)

    @property
    def authority(self) -> str:
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def is_microsoft_authority(self) -> bool:
        return urlsplit(self.authority_host).hostname in MICROSOFT_AUTHORITY_HOSTS

    @property
    def graph_resource(self) -> str:
        return graph_resource(self.graph_url)

    @property
    def app_scope(self) -> str:
        return f"{self.graph_resource}/.default"

    @property
    def delegated_scopes(self) -> list[str]:
        names = ["User.Read.All", "GroupMember.Read.All"] if self.group_scope else ["User.Read.All"]
        return [f"{self.graph_resource}/{name}" for name in names]


@dataclass(frozen=True, slots=True)
class SignedInAccount:
    username: str
    home_account_id: str
    tenant_id: str
    object_id: str


class SignInFailed(SetupRequired):
    """The authorization-code flow ended without tokens (declined, bad code, no consent)."""


class SignInStateMismatch(SignInFailed):
    """The callback's `state` is not the one this flow sent: a stale or forged callback."""


def graph_resource(graph_url: str) -> str:
    """The resource tokens are for. A national cloud's Graph host is its own resource;
    any other host (a proxy, the emulator) still fronts the global Microsoft Graph."""
    origin = origin_of(graph_url)
    if urlsplit(origin).hostname in GRAPH_RESOURCE_HOSTS:
        return origin
    return DEFAULT_GRAPH


def origin_of(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"expected an https URL, got {url!r}")
    return f"https://{parts.netloc}"


def refusal_error(body: Mapping[str, Any]) -> Exception:
    """SetupRequired for what an admin must fix; TransientError for a passing outage."""
    error = str(body.get("error", "unknown_error"))
    description = str(body.get("error_description", "")).split("\r\n")[0].split("\n")[0]
    codes = [int(code) for code in body.get("error_codes") or () if isinstance(code, int)]
    if error in ("temporarily_unavailable", "server_error"):
        return TransientError(f"identity platform: {error}: {description}")
    hint = next((_HINTS[code] for code in codes if code in _HINTS), None)
    hint = hint or (_HINTS[65001] if error == "consent_required" else None)
    reason = f"{hint or 'Microsoft Entra ID refused the token request.'} ({error}: {description})"
    error_code = f"AADSTS{codes[0]}" if codes else error
    return SetupRequired(reason, error_code=error_code)
