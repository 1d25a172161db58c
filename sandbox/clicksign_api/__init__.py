"""The sandbox's Clicksign API: documents registered by tests and tools, read back by API 1.0 and
3.0 the way Clicksign answers them; mounted into the RD sandbox's process (`add_clicksign_api`)."""

from sandbox.clicksign_api.app import add_clicksign_api
from sandbox.clicksign_api.config import DEFAULT_CLICKSIGN_TOKEN, ClicksignApiConfig
from sandbox.clicksign_api.context import CLICKSIGN_SANDBOX_KEY, ClicksignSandbox
from sandbox.clicksign_api.control import CONTROL_PREFIX
from sandbox.clicksign_api.paths import is_clicksign_path
from sandbox.clicksign_api.state import API_1, API_3

__all__ = [
    "API_1",
    "API_3",
    "CLICKSIGN_SANDBOX_KEY",
    "CONTROL_PREFIX",
    "DEFAULT_CLICKSIGN_TOKEN",
    "ClicksignApiConfig",
    "ClicksignSandbox",
    "add_clicksign_api",
    "is_clicksign_path",
]
