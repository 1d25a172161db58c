"""Test helper speaking the sandbox's HTTP API: RD v1 calls and the control API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from sandbox.rdstation import SandboxServer

OTHER_TOKEN = "second-token"


@dataclass
class Answer:
    status: int
    text: str
    content_type: str
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return orjson.loads(self.text)


@dataclass
class RdCaller:
    """Calls ``/api/v1`` with the token in the query string, the way RD v1 clients do."""

    session: aiohttp.ClientSession
    server: SandboxServer
    token: str | None

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "",
        timeout: float = 10.0,
        params: dict[str, str] | None = None,
    ) -> Answer:
        chosen = self.token if token == "" else token
        query = {**(params or {}), **({"token": chosen} if chosen is not None else {})}
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        url = self.server.url + path
        limit = aiohttp.ClientTimeout(total=timeout)
        async with self.session.request(
            method, url, params=query, data=data, headers=headers, timeout=limit
        ) as response:
            return Answer(
                response.status,
                await response.text(),
                response.content_type,
                dict(response.headers),
            )

    async def get(self, path: str, **params: str) -> Answer:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any, **params: str) -> Answer:
        return await self.call("POST", path, body, params=params)

    async def put(self, path: str, body: Any, **params: str) -> Answer:
        return await self.call("PUT", path, body, params=params)

    async def control(self, method: str, path: str, body: Any = None) -> Answer:
        """The ``/__sandbox`` control API, which takes no token."""
        data = orjson.dumps(body) if body is not None else None
        async with self.session.request(method, self.server.control_url + path, data=data) as r:
            return Answer(r.status, await r.text(), r.content_type, dict(r.headers))


async def create_deal(api: RdCaller, name: str = "Contrato ACME", **deal: Any) -> dict[str, Any]:
    answer = await api.post("/deals", {"deal": {"name": name, **deal}})
    assert answer.status == 200, answer.text
    result: dict[str, Any] = answer.json
    return result


async def create_contact(api: RdCaller, name: str, email: str, **fields: Any) -> dict[str, Any]:
    body = {"contact": {"name": name, "emails": [{"email": email}], **fields}}
    answer = await api.post("/contacts", body)
    assert answer.status == 200, answer.text
    result: dict[str, Any] = answer.json
    return result
