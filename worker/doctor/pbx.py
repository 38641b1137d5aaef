"""The PBX side: it answers, takes the credentials, allows the API, has the domain, and the
link's ranges still have a free number. Only GETs: the Vodia client is used for its reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aiohttp

from store.models import Binding, Extension, Link
from worker.doctor import fixes
from worker.doctor.report import Check, failed, not_checked, passed
from worker.errors import (
    PbxAuthError,
    PbxError,
    PbxForbiddenError,
    PbxNotFoundError,
    SyncError,
    TransientError,
)
from worker.planner import Policy
from worker.planner.inputs import PlanInput
from worker.planner.numbering import format_number_spec
from worker.vodia.client import VodiaClient

ANSWERS = "PBX answers"
CREDENTIALS = "PBX accepts the administrator credentials"
API_ACCESS = "PBX account may use the domain's API"
DOMAIN = "PBX domain exists"
RANGE = "Extension range has free numbers"
RANGE_FIX = (
    "Widen the range or free numbers (link setting ranges, e.g. 200-299,400-449) on the "
    'Settings page (Vodia manual: "Ensure extension numbers are within allowed range"); '
    "numbers freed less than cooloff_days ago and reserved numbers are not handed out."
)


async def pbx_checks(
    pbx: VodiaClient | None,
    link: Link,
    policy: Policy,
    bindings: Sequence[Binding],
    released: Mapping[str, float],
    now: float,
    missing_password: bool,
) -> list[Check]:
    if pbx is None or missing_password:
        return [
            failed(
                "pbx_answers",
                ANSWERS,
                "not asked: no PBX password is stored for this link",
                f"`m365sync link set {link.name} --pbx-password`.",
            ),
            *_blocked_after(ANSWERS, 1),
        ]
    try:
        await pbx.verify()
    except (TransientError, aiohttp.InvalidURL) as exc:
        return [
            failed(
                "pbx_answers",
                ANSWERS,
                str(exc),
                f"Check that {link.pbx_url} is the PBX's address and reachable from this host "
                "(firewall, DNS); a PBX with a private CA needs the link's --ca-bundle.",
            ),
            *_blocked_after(ANSWERS, 1),
        ]
    except PbxAuthError as exc:
        return [
            _answered(link),
            failed(
                "pbx_credentials",
                CREDENTIALS,
                str(exc),
                fixes.PBX_LOGIN_REFUSED.format(name=link.name),
            ),
            *_blocked_after(CREDENTIALS, 2),
        ]
    except PbxForbiddenError as exc:
        return [
            _answered(link),
            passed("pbx_credentials", CREDENTIALS, link.pbx_user),
            failed("pbx_api_access", API_ACCESS, str(exc), fixes.PBX_API_ACCESS),
            *_blocked_after(API_ACCESS, 3),
        ]
    except PbxNotFoundError as exc:
        return [
            _answered(link),
            passed("pbx_credentials", CREDENTIALS, link.pbx_user),
            passed("pbx_api_access", API_ACCESS, link.pbx_user),
            failed(
                "pbx_domain",
                DOMAIN,
                f"{link.pbx_domain!r}: {exc}",
                "Set the Vodia tenant's name exactly as the PBX lists it under Tenants: "
                f"`m365sync link set {link.name} pbx_domain=...`.",
            ),
            *_blocked_after(DOMAIN, 4),
        ]
    except PbxError as exc:
        return [
            _answered(link),
            failed("pbx_credentials", CREDENTIALS, str(exc), "See the detail; then check again."),
            *_blocked_after(CREDENTIALS, 2),
        ]
    head = [
        _answered(link),
        passed("pbx_credentials", CREDENTIALS, link.pbx_user),
        passed("pbx_api_access", API_ACCESS, link.pbx_user),
        passed("pbx_domain", DOMAIN, link.pbx_domain),
    ]
    return [*head, await _range_check(pbx, policy, bindings, released, now)]


def _answered(link: Link) -> Check:
    return passed("pbx_answers", ANSWERS, link.pbx_url)


_AFTER = (
    ("pbx_credentials", CREDENTIALS),
    ("pbx_api_access", API_ACCESS),
    ("pbx_domain", DOMAIN),
    ("pbx_range", RANGE),
)


def _blocked_after(blocker: str, done: int) -> list[Check]:
    """The PBX checks after the `done`-th one, not checked because `blocker` failed."""
    return [not_checked(check_id, title, blocker) for check_id, title in _AFTER[done - 1 :]]


async def _range_check(
    pbx: VodiaClient,
    policy: Policy,
    bindings: Sequence[Binding],
    released: Mapping[str, float],
    now: float,
) -> Check:
    if not policy.ranges:
        return failed("pbx_range", RANGE, "no range is set", RANGE_FIX)
    try:
        extensions = await pbx.list_extensions(with_cell=False)
    except SyncError as exc:
        return failed("pbx_range", RANGE, f"the extension list could not be read: {exc}", RANGE_FIX)
    free = count_free(policy, extensions, bindings, released, now)
    spec = format_number_spec(policy.ranges)
    if free == 0:
        return failed("pbx_range", RANGE, f"{spec}: no free number", RANGE_FIX)
    return passed("pbx_range", RANGE, f"{spec}: {free} free")


def count_free(
    policy: Policy,
    extensions: Sequence[Extension],
    bindings: Sequence[Binding],
    released: Mapping[str, float],
    now: float,
) -> int:
    """Free numbers by the planner's own rule (in use, bound, reserved, cooling off)."""
    inp = PlanInput(
        users={},
        extensions={e.number: e for e in extensions},
        bindings=bindings,
        policy=policy,
        now=now,
        released=released,
    )
    return sum(
        1
        for lo, hi in policy.ranges
        for value in range(lo, hi + 1)
        if not inp.is_blocked(str(value))
    )
