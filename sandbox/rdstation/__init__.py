"""An RD Station CRM v1 sandbox: an aiohttp server behaving like the documented API, quirks
included, with fault switches and a control API. ``python -m sandbox.rdstation`` runs it;
tests use ``async with SandboxServer() as rd:``."""

from sandbox.rdstation.app import create_app
from sandbox.rdstation.config import DEFAULT_TOKEN, SandboxConfig
from sandbox.rdstation.context import SANDBOX_KEY, Sandbox
from sandbox.rdstation.faults import FailureRule, Faults
from sandbox.rdstation.seed import SeedIds
from sandbox.rdstation.server import SandboxServer
from sandbox.rdstation.state import SandboxState

__all__ = [
    "DEFAULT_TOKEN",
    "SANDBOX_KEY",
    "FailureRule",
    "Faults",
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "SandboxState",
    "SeedIds",
    "create_app",
]
