"""The environment and a port for one of signdeal's services run as a child process, by the
end-to-end tests and the benchmarks: the parent's environment minus every signdeal setting a
developer's shell may hold, plus the caller's own."""

from __future__ import annotations

import os
import socket

# Prefixes (and names) of the variables the services read; none is inherited from the parent.
SERVICE_VARIABLES = (
    "AMQP_",
    "CLICKSIGN_",
    "CRM_WRITER_",
    "DEAL_",
    "EVENT_LOOP",
    "HISTORY_",
    "INGEST_",
    "LOG_",
    "OTEL_",
    "RDSTATION_",
    "SIGNDEAL_",
    "STORE_",
)


def service_env(**variables: str) -> dict[str, str]:
    """This process's environment without signdeal settings, JSON logs unbuffered, ``variables``."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(SERVICE_VARIABLES)
    }
    return {**inherited, "PYTHONUNBUFFERED": "1", "LOG_FORMAT": "json", **variables}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
