"""How the command reads crm_writer's history API: with ``CRM_WRITER_API_TOKEN``, if set.

crm_writer answers the history only to a client that presents its token, or, while it has none, to
loopback clients (`services.crm_writer.access`). The command sends the token from its own
environment as ``Authorization: Bearer …`` (never in the URL) and turns a 401 or 403 into one line
naming the variable.
"""

from __future__ import annotations

from services.crm_writer.access import TOKEN_VARIABLE
from services.crm_writer.settings import CrmWriterSettings


def auth_headers(settings: CrmWriterSettings) -> dict[str, str]:
    """The ``Authorization`` header for crm_writer's history API, or none without a token."""
    token = settings.api_token
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def refusal_message(status: int, url: str, *, token_sent: bool) -> str | None:
    """One line for a 401 or 403 from the history API at ``url``; None for other statuses."""
    if status == 401 and token_sent:
        return (
            f"{url} refused {TOKEN_VARIABLE} (401): set it to the token crm_writer was started with"
        )
    if status == 401:
        return (
            f"{url} answered 401: crm_writer has a token: set {TOKEN_VARIABLE} to it here "
            "(it is sent as 'Authorization: Bearer …')"
        )
    if status == 403:
        return (
            f"{url} answered 403: crm_writer has no {TOKEN_VARIABLE} and answers loopback clients "
            f"only: set {TOKEN_VARIABLE} on crm_writer and here, or reach it through loopback "
            "(kubectl port-forward, or `signdeal history` without --api on its host)"
        )
    return None
