"""What the Graph handlers share, stored on the aiohttp app under `CONTEXT`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from emulators.clock import Clock
from emulators.faults import FaultInjector
from emulators.identity.platform import IdentityPlatform
from emulators.identity.tokens import AccessClaims

from .config import GraphEmulatorConfig
from .delivery import Delivery
from .delta import DeltaTokens
from .directory import Directory
from .subscriptions import Subscriptions


@dataclass(slots=True)
class GraphContext:
    config: GraphEmulatorConfig
    clock: Clock
    identity: IdentityPlatform
    directory: Directory
    delta_tokens: DeltaTokens
    subscriptions: Subscriptions
    delivery: Delivery
    faults: FaultInjector
    gone_remaining: int = 0  # delta calls still to answer with 410 Gone


CONTEXT = web.AppKey("graph_context", GraphContext)
CLAIMS = web.RequestKey("graph_claims", AccessClaims)


def context(request: web.Request) -> GraphContext:
    return request.app[CONTEXT]


def origin(request: web.Request) -> str:
    """The absolute base for @odata links, as the client reached us."""
    return f"{request.scheme}://{request.host}"
