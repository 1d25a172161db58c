"""The answers Clicksign gives instead of a resource, in each API's shape.

API 1.0: ``{"errors": ["…"]}`` (a bad token is a 403 "Access Token inválido", an unknown document
a 404 "Documento não encontrado", recorded by NexoosBR/clicksign-api). API 3.0: JSON:API
``{"errors": [{"code", "status", "title", "detail"}]}`` (Clicksign's reference). A 429's body is
not documented: plain "Too many requests", as a third party saw on one v3 endpoint (UNCONFIRMED).
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web

_V1_MESSAGES = {
    401: "Access Token inválido",
    403: "Access Token inválido",
    404: "Documento não encontrado",
    400: "Requisição inválida",
}
_V3_ERRORS = {
    400: ("bad_request", "Requisição inválida", "Requisição inválida"),
    401: ("unauthorized", "Não autorizado", "Access Token inválido"),
    403: ("forbidden", "Proibido", "E-mail do usuário da API não configurado"),
    404: ("404", "Registro não encontrado", "O registro não pôde ser encontrado"),
    503: ("service_unavailable", "Verificação", "Serviço indisponível"),
}


class ClicksignApiError(Exception):
    """Raised by a view or a middleware; `to_response` is the only place it becomes HTTP."""

    def __init__(self, status: int, *, v3: bool, retry_after_seconds: int = 10) -> None:
        super().__init__(status)
        self.status = status
        self.v3 = v3
        self.retry_after_seconds = retry_after_seconds

    def to_response(self) -> web.Response:
        if self.status == 429:
            reset = int(time.time() + self.retry_after_seconds)
            headers = {"X-Rate-Limit-Reset": str(reset), "X-Rate-Limit-Remaining": "0"}
            return web.Response(
                status=429, text="Too many requests", content_type="text/plain", headers=headers
            )
        if self.status >= 500 and not (self.v3 and self.status == 503):
            return web.Response(
                status=self.status, text="<html><body>Erro</body></html>", content_type="text/html"
            )
        return web.Response(
            status=self.status, body=orjson.dumps(self.body()), content_type="application/json"
        )

    def body(self) -> dict[str, object]:
        if not self.v3:
            return {"errors": [_V1_MESSAGES.get(self.status, "Erro")]}
        code, title, detail = _V3_ERRORS.get(self.status, (str(self.status), "Erro", "Erro"))
        return {"errors": [{"code": code, "status": self.status, "title": title, "detail": detail}]}
