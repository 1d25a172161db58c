"""Where the tests find RabbitMQ and PostgreSQL.

Order: the environment (``AMQP_URL``, ``TEST_POSTGRES_URL``), then testcontainers when a Docker
engine answers, otherwise a clear failure. Tests never skip silently for lack of a broker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

RABBITMQ_IMAGE = "rabbitmq:3.13-management"
POSTGRES_IMAGE = "postgres:16-alpine"


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _no_service(what: str, variable: str) -> pytest.UsageError:
    return pytest.UsageError(
        f"{what} is needed by the tests: set {variable} (`.ci/run` and `make test` point it at "
        "the local server) or run a Docker engine so testcontainers can start one."
    )


@contextmanager
def rabbitmq_url() -> Iterator[str]:
    url = os.environ.get("AMQP_URL")
    if url:
        yield url
        return
    if not _docker_answers():
        raise _no_service("RabbitMQ", "AMQP_URL")
    from testcontainers.rabbitmq import RabbitMqContainer

    with RabbitMqContainer(RABBITMQ_IMAGE) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(5672)
        yield f"amqp://guest:guest@{host}:{port}/"


@contextmanager
def postgres_url() -> Iterator[str]:
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if not _docker_answers():
        raise _no_service("PostgreSQL", "TEST_POSTGRES_URL")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
        yield container.get_connection_url()
