"""Graph permissions a link needs beyond User.Read.All, and the admin's fix when missing.

`GET /groups/{id}/transitiveMembers` needs GroupMember.Read.All (or Group.Read.All,
Directory.Read.All); with User.Read.All alone Graph answers 403 Authorization_RequestDenied
(learn.microsoft.com/graph/api/group-list-transitivemembers, "Permissions"). That is a
setup problem, not a round's bad luck: the link goes to Setup Required naming the
permission, instead of running every round with an unknown scope.
"""

from __future__ import annotations

from store.models import AuthMode, Link
from worker.errors import GraphError, SetupRequired
from worker.graph.client import GraphClient
from worker.planner import Policy

GROUP_MEMBERS_PERMISSION = "GroupMember.Read.All"
PERMISSION_MISSING = "permission_missing"


def group_permission_missing(link: Link) -> SetupRequired:
    kind = "Delegated" if link.auth_mode is AuthMode.DELEGATED else "Application"
    then = (
        "then sign in again with OAuth Token" if link.auth_mode is AuthMode.DELEGATED
        else "then check the link"
    )  # fmt: skip
    return SetupRequired(
        f"Microsoft Graph refused to list group members (403): in Entra ID add the "
        f"{kind} permission {GROUP_MEMBERS_PERMISSION} to the app, grant admin consent, "
        f"{then} (scope=groups needs it)",
        error_code=PERMISSION_MISSING,
    )


def is_permission_denied(exc: GraphError) -> bool:
    return exc.status == 403


async def check_group_access(graph: GraphClient, link: Link, policy: Policy | None) -> None:
    """With scope=groups, read one page of the first group's members; a 403 raises the
    Setup Required that names the permission."""
    if policy is None or policy.scope != "groups" or not policy.group_ids:
        return
    try:
        async for _ in graph.iter_transitive_member_ids(policy.group_ids[0]):
            break
    except GraphError as exc:
        if is_permission_denied(exc):
            raise group_permission_missing(link) from exc
        raise
