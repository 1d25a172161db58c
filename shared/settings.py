"""Settings shared by both services, and start-up errors an operator can act on."""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.eventloop import EventLoopChoice
from shared.topology import Topology

# A RabbitMQ on this machine with its out-of-the-box user: what every service (and make run's
# checks) takes when AMQP_URL is not set.
DEFAULT_AMQP_URL = "amqp://guest:guest@localhost:5672/"


class ServiceSettings(BaseSettings):
    """What every signdeal service reads from the environment."""

    # An empty variable (`VAR=` in an .env file) means "not set", not an empty value.
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, env_ignore_empty=True)

    amqp_url: str = DEFAULT_AMQP_URL
    amqp_topology_prefix: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    event_loop: EventLoopChoice = "auto"

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url_scheme(cls, value: str) -> str:
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must be an amqp:// or amqps:// URL")
        return value

    def topology(self) -> Topology:
        return Topology(prefix=self.amqp_topology_prefix)


class ConfigurationError(Exception):
    """Configuration that cannot work; the message is one line naming the variable."""


# How a service's process ends (both services: the same status for the same situation).
EXIT_OK = 0
# It ran, then stopped on something an operator must fix (crm_writer: a refused RD token).
EXIT_FATAL = 1
# It never started: the configuration (one line on stderr says what) or the event loop.
EXIT_BAD_CONFIGURATION = 2


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read settings from the environment, turning validation errors into one clear line."""
    try:
        return settings_class()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        variable = "_".join(str(part) for part in error["loc"]).upper()
        # A rule over several variables has no location: its message names them itself.
        words = _in_words(error, variable)
        problems.append(f"{variable} {words}" if variable else words)
    return "invalid configuration: " + "; ".join(problems)


def _in_words(error: ErrorDetails, variable: str) -> str:
    """What the variable must be, in words, with the value given (unless it may be secret)."""
    kind, context = error["type"], error.get("ctx", {})
    given = "" if _may_be_secret(variable) else f", not {str(error.get('input'))[:40]!r}"
    if kind == "missing":
        return "is required but not set"
    if kind == "int_parsing":
        return f"must be a whole number{given}"
    if kind == "float_parsing":
        return f"must be a number{given}"
    if kind == "bool_parsing":
        return f"must be true or false{given}"
    if kind == "literal_error":
        return f"must be one of {context.get('expected')}{given}"
    bounds = {
        "greater_than": "more than",
        "greater_than_equal": "at least",
        "less_than": "less than",
        "less_than_equal": "at most",
    }
    if kind in bounds:
        limit = next(iter(context.values()), "?")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {bounds[kind]} {limit}{given}"
    return str(error["msg"]).removeprefix("Value error, ")


def _may_be_secret(variable: str) -> bool:
    return any(word in variable for word in ("TOKEN", "SECRET", "PASSWORD", "URL", "KEY"))
