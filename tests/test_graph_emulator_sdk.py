"""The official Graph SDK for Python (msgraph-sdk) with azure-identity, against the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from azure.identity.aio import ClientSecretCredential
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from emulators.graph.server import GraphEmulator


@asynccontextmanager
async def sdk_client(emulator: GraphEmulator) -> AsyncIterator[GraphServiceClient]:
    """A GraphServiceClient whose base URL is the emulator, trusting only its CA."""
    tenant = emulator.config.tenant
    credential = ClientSecretCredential(
        tenant.tenant_id,
        tenant.client_id,
        tenant.client_secret,
        authority=emulator.url,
        disable_instance_discovery=True,
        connection_verify=emulator.ca_path,
    )
    auth = AzureIdentityAuthenticationProvider(
        credential,
        scopes=["https://graph.microsoft.com/.default"],
        allowed_hosts=["127.0.0.1"],
    )
    http = httpx.AsyncClient(verify=emulator.client_ssl_context(), trust_env=False)
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = emulator.graph_url
    async with credential, http:
        yield GraphServiceClient(request_adapter=adapter)


async def test_sdk_lists_users_page_by_page(graph_emulator: GraphEmulator) -> None:
    """GraphServiceClient lists users with $select/$top and follows the nextLink."""
    graph_emulator.directory.seed(12, seed=2)
    async with sdk_client(graph_emulator) as client:
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            select=["id", "displayName", "accountEnabled"], top=5
        )
        config = UsersRequestBuilder.UsersRequestBuilderGetRequestConfiguration(
            query_parameters=query
        )
        page = await client.users.get(request_configuration=config)
        names = []
        while page is not None:
            names.extend(user.display_name for user in page.value or [])
            if not page.odata_next_link:
                break
            page = await client.users.with_url(page.odata_next_link).get()
    assert len(names) == 12
    assert all(names)


async def test_sdk_pages_through_a_delta_round(graph_emulator: GraphEmulator) -> None:
    """The SDK's users.delta walks nextLinks to a deltaLink, then sees a later change."""
    users = graph_emulator.directory.seed(250, seed=2).user_ids
    async with sdk_client(graph_emulator) as client:
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=["id", "displayName", "mail"]
        )
        config = DeltaRequestBuilder.DeltaRequestBuilderGetRequestConfiguration(
            query_parameters=query
        )
        page = await client.users.delta.get(request_configuration=config)
        seen: list[str] = []
        while page is not None and page.odata_next_link:
            seen.extend(str(user.id) for user in page.value or [])
            page = await client.users.delta.with_url(page.odata_next_link).get()
        assert page is not None
        seen.extend(str(user.id) for user in page.value or [])
        assert sorted(seen) == sorted(users)
        assert page.odata_delta_link
        graph_emulator.directory.update_user(users[0], displayName="Renamed")
        later = await client.users.delta.with_url(page.odata_delta_link).get()
    assert later is not None
    assert [(u.id, u.display_name) for u in later.value or []] == [(users[0], "Renamed")]
