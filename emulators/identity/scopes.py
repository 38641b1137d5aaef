"""Scope strings as Entra reads them: OIDC scopes plus permissions of one resource (Graph).

`https://graph.microsoft.com/User.Read.All`, `00000003-…/User.Read.All` and a bare
`User.Read.All` all mean the same Graph permission; `/.default` means "whatever was consented".
The emulator serves Graph at its own loopback origin and clients derive the scope from the
Graph URL they use, so `https://127.0.0.1:PORT/…` names Graph too.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from emulators.identity import aad_errors
from emulators.identity.aad_errors import AadError
from emulators.identity.platform import is_loopback
from emulators.identity.tokens import APP_ROLES, GRAPH_APP_ID, GRAPH_RESOURCE

OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
_GRAPH_PREFIXES = (f"{GRAPH_RESOURCE}/", f"{GRAPH_APP_ID}/")


@dataclass(frozen=True, slots=True)
class DelegatedScopes:
    permissions: tuple[str, ...]  # Graph permission names, e.g. ("User.Read.All",)
    oidc: tuple[str, ...]  # the OIDC scopes that were asked for
    resource: str = GRAPH_RESOURCE  # as the client named Graph, echoed in `scope`

    @property
    def offline_access(self) -> bool:
        return "offline_access" in self.oidc

    @property
    def openid(self) -> bool:
        return "openid" in self.oidc

    def scp(self) -> tuple[str, ...]:
        """The access token's `scp`: OIDC scopes (bar offline_access) and permissions."""
        oidc = tuple(scope for scope in self.oidc if scope != "offline_access")
        return oidc + self.permissions

    def response_scope(self) -> str:
        """The token response's `scope`: permissions as full URIs, then the OIDC ones."""
        graph = [f"{self.resource}/{name}" for name in self.permissions]
        return " ".join(graph + [scope for scope in self.oidc if scope != "offline_access"])


def parse_delegated(raw: str, consented: tuple[str, ...] = APP_ROLES) -> DelegatedScopes:
    """`consented`: the permissions admin consent granted the app, which `.default` means."""
    permissions: list[str] = []
    oidc: list[str] = []
    resource = GRAPH_RESOURCE
    for scope in raw.split():
        if scope.lower() in OIDC_SCOPES:
            oidc.append(scope.lower())
            continue
        named_resource, _, name = scope.rpartition("/")
        if not name or (named_resource and not is_graph_resource(named_resource)):
            raise _invalid_scope(scope)
        if named_resource.lower().startswith("https://"):
            resource = named_resource
        names = consented if name == ".default" else (name,)
        permissions.extend(n for n in names if n not in permissions)
    if not permissions and not oidc:
        raise aad_errors.invalid_request(
            "The request body must contain the following parameter: 'scope'.", 900144
        )
    return DelegatedScopes(permissions=tuple(permissions), oidc=tuple(oidc), resource=resource)


def is_graph_resource(resource: str) -> bool:
    if f"{resource.lower()}/" in _GRAPH_PREFIXES:
        return True
    parts = urlsplit(resource)
    return (
        parts.scheme == "https"
        and parts.path in ("", "/")
        and parts.hostname is not None
        and is_loopback(parts.hostname)
    )


def check_client_credentials_scope(raw: str) -> None:
    """Client credentials need exactly `{resource}/.default`, and the resource must be Graph."""
    scopes = raw.split()
    if not scopes:
        raise aad_errors.invalid_request(
            "The request body must contain the following parameter: 'scope'.", 900144
        )
    for scope in scopes:
        if scope.lower() in OIDC_SCOPES:
            continue
        resource, _, permission = scope.rpartition("/")
        if permission != ".default":
            raise AadError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if not is_graph_resource(resource):
            raise AadError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                "the emulated tenant. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant.",
            )


def _invalid_scope(scope: str) -> AadError:
    return AadError(
        400,
        "invalid_scope",
        70011,
        f"The provided request must include a 'scope' input parameter. The provided value for "
        f"the input parameter 'scope' is not valid. The scope {scope} is not valid.",
    )
