"""``signdeal check`` against Clicksign's API: does it take ``CLICKSIGN_ACCESS_TOKEN``?

Clicksign's own authentication tests are asked: ``GET /api/v1/accounts`` (API 1.0) and
``GET /api/v3/envelopes`` (API 3.0). The token is good when either takes it; crm_writer reads a
document from whichever knows it (docs/clicksign.md).
"""

from __future__ import annotations

from services.crm_writer.clicksign import API_1, API_3, ClicksignError, TokenCheck
from services.crm_writer.settings import CrmWriterSettings
from signdeal_cli.environment import clicksign_client
from signdeal_cli.verdicts import Verdict

NAME = "Clicksign token"
NOT_SET = (
    "not set: thin events will not be completed (a finalisation without signers or file name "
    "is written as it came); CLICKSIGN_ACCESS_TOKEN takes the token of Configurações → API"
)


NOT_SET_IN_SANDBOX_MODE = (
    "not set here: `make run` gives crm_writer the sandbox's own Clicksign API and token; "
    "for real traffic, " + NOT_SET.removeprefix("not set: ")
)


async def check_clicksign_token(settings: CrmWriterSettings) -> Verdict:
    token = settings.clicksign_token
    if token is None and settings.uses_sandbox:
        return Verdict.skip(NAME, NOT_SET_IN_SANDBOX_MODE)
    if token is None:
        return Verdict.warn(NAME, NOT_SET)
    where = settings.clicksign_api_base_url
    try:
        async with clicksign_client(settings, token) as clicksign:
            result = await clicksign.check_token()
    except ClicksignError as exc:
        return Verdict.fail(NAME, f"Clicksign's API at {where} does not answer: {exc}")
    return token_verdict(result, where)


def token_verdict(result: TokenCheck, where: str) -> Verdict:
    """✓ when an API takes the token, ✗ with each API's reason when none does."""
    accepted = result.accepted_by
    if not accepted:
        reasons = f"API {API_1}: {result.api_1}; API {API_3}: {result.api_3}"
        return Verdict.fail(
            NAME,
            f"refused by Clicksign at {where} ({reasons}); generate a token in Clicksign, "
            "Configurações → API, and for API 3.0 save the API user's e-mail on that screen",
        )
    account = f' for account "{result.account}"' if result.account else ""
    apis = " and ".join(f"API {api}" for api in accepted)
    detail = f"accepted by {apis}{account} at {where}"
    if API_3 not in accepted:
        detail += f" (API 3.0: {result.api_3})"
    return Verdict.ok(NAME, detail)
