"""What a service says when its broker or store cannot be reached at start-up: one line naming the
variable, the host and what to check — no traceback, no library noise.

A closed port is one nothing listens on: bound to find a free one, then closed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aiormq.exceptions import InvalidFrameError

from sandbox.process_env import free_port
from sandbox.rdstation.server import SandboxServer
from services.crm_writer.store import StoreError, open_store
from services.crm_writer.store.open_errors import describe_store_failure
from shared.connection_errors import describe_broker_failure
from shared.topology import Topology
from tests.service_processes import (
    START_SECONDS,
    ProcessGroup,
    ServiceProcess,
    crm_writer_env,
    start_ingest,
    wait_until,
)

pytestmark = pytest.mark.e2e

ATTEMPTS_SEEN = 2


def closed_port_url(url: str) -> str:
    """``url`` with its host and port replaced by a port of 127.0.0.1 nothing listens on."""
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    netloc = f"{credentials}127.0.0.1:{free_port()}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


def with_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


# -- the words, from the real libraries' real errors ------------------------------------------


async def broker_failure(url: str) -> str:
    with pytest.raises((*CONNECTION_EXCEPTIONS, InvalidFrameError)) as caught:
        await aio_pika.connect(url, timeout=10)
    return describe_broker_failure(url, caught.value)


async def store_failure(url: str) -> str:
    store = open_store(url)
    try:
        # Only the store's own errors leave it, whatever the driver said (the cause).
        with pytest.raises(StoreError) as caught:
            await store.open()
    finally:
        await store.close()
    return describe_store_failure(url, caught.value)


async def test_a_closed_broker_port_names_amqp_url_and_how_to_start_rabbitmq(
    amqp_url: str,
) -> None:
    url = closed_port_url(amqp_url)
    port = urlsplit(url).port

    said = await broker_failure(url)

    assert said.startswith(f"AMQP_URL: nothing listens on 127.0.0.1:{port}: is RabbitMQ running?")
    assert "rabbitmq-server -detached" in said


async def test_a_refused_broker_login_names_the_user_not_the_password(amqp_url: str) -> None:
    parts = urlsplit(amqp_url)
    url = urlunsplit(
        parts._replace(netloc=f"guest:wrong-password-9d2@{parts.netloc.split('@')[-1]}")
    )

    said = await broker_failure(url)

    assert said.startswith("AMQP_URL: RabbitMQ at ")
    assert "refused user 'guest': check the user and password in AMQP_URL" in said
    assert "wrong-password-9d2" not in said


async def test_an_unknown_virtual_host_is_named(amqp_url: str) -> None:
    said = await broker_failure(with_path(amqp_url, "/no-such-vhost-fh"))

    assert "refused virtual host 'no-such-vhost-fh'" in said
    assert said.startswith("AMQP_URL: ")


async def test_an_unknown_broker_host_is_named(amqp_url: str) -> None:
    url = urlunsplit(urlsplit(amqp_url)._replace(netloc="guest:guest@no-such-host.invalid:5672"))

    said = await broker_failure(url)

    assert said == (
        "AMQP_URL: cannot find host 'no-such-host.invalid': check the host name in AMQP_URL"
    )


async def test_a_closed_postgres_port_names_store_url(postgres_server_url: str) -> None:
    url = closed_port_url(postgres_server_url)
    port = urlsplit(url).port

    said = await store_failure(url)

    assert said == (
        f"STORE_URL: nothing listens on 127.0.0.1:{port}: is PostgreSQL running there? "
        f"(`pg_isready -h 127.0.0.1 -p {port}`)"
    )


async def test_a_missing_database_says_how_to_create_it(postgres_server_url: str) -> None:
    said = await store_failure(with_path(postgres_server_url, "/signdeal_missing_fh"))

    assert said.startswith("STORE_URL: database 'signdeal_missing_fh' does not exist on ")
    assert "createdb" in said
    assert said.endswith("or fix the database name in STORE_URL")


async def test_a_role_postgres_does_not_know_is_named(postgres_server_url: str) -> None:
    said = await store_failure(with_user(postgres_server_url, "no_such_role_fh"))

    assert said.startswith("STORE_URL: PostgreSQL at ")
    assert "refused user 'no_such_role_fh'" in said
    assert said.endswith("check the user and password in STORE_URL")


async def test_a_sqlite_file_that_cannot_be_made_names_its_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    url = f"sqlite:///{blocker}/signdeal.db"

    said = await store_failure(url)

    assert said.startswith(f"STORE_URL: cannot open the SQLite database {blocker}/signdeal.db (")
    assert "check that its folder exists" in said


# -- the services say it, once per attempt, and nothing else ----------------------------------


def no_traceback(lines: list[dict[str, object]]) -> bool:
    return not any("exception" in line or "stack" in line for line in lines)


async def test_crm_writer_with_a_store_it_cannot_open_exits_with_one_line(
    processes: ProcessGroup,
    amqp_url: str,
    service_topology: Topology,
    postgres_server_url: str,
) -> None:
    port = free_port()
    store_url = with_path(postgres_server_url, "/signdeal_missing_fh")
    env = crm_writer_env(
        amqp_url=amqp_url,
        topology=service_topology,
        port=port,
        store_url=store_url,
        rd_url="http://127.0.0.1:9/api/v1",
    )
    writer = await processes.start("crm_writer", "services.crm_writer", env, port)

    assert await writer.wait_for_exit(START_SECONDS) == 1
    lines = writer.json_lines()
    (fatal,) = [line for line in lines if line["event"] == "service.fatal"]
    assert fatal["error"] == await store_failure(store_url)
    assert [line["event"] for line in lines][-1] == "service.stopped"
    assert no_traceback(lines)
    assert writer.stderr_lines == []


async def test_ingest_keeps_retrying_a_closed_broker_port_with_one_line_each_time(
    processes: ProcessGroup, amqp_url: str, service_topology: Topology
) -> None:
    url = closed_port_url(amqp_url)
    ingest = await start_ingest(processes, url, service_topology)

    await wait_for_count(ingest, "broker.connect_failed", ATTEMPTS_SEEN)
    await ingest.stop()

    lines = ingest.json_lines()
    failures = [line for line in lines if line["event"] == "broker.connect_failed"]
    assert {line["error"] for line in failures} == {await broker_failure(url)}
    assert not [line for line in lines if str(line["event"]).startswith("lib.aiormq")]
    assert no_traceback(lines)


async def test_crm_writer_keeps_retrying_a_closed_broker_port_with_one_line_each_time(
    processes: ProcessGroup,
    amqp_url: str,
    service_topology: Topology,
    rd: SandboxServer,
    tmp_path: Path,
) -> None:
    url = closed_port_url(amqp_url)
    port = free_port()
    env = crm_writer_env(
        amqp_url=url,
        topology=service_topology,
        port=port,
        store_url=f"sqlite:///{tmp_path}/signdeal.db",
        rd_url=rd.url,
    )
    writer = await processes.start("crm_writer", "services.crm_writer", env, port)

    await wait_for_count(writer, "broker.unreachable", ATTEMPTS_SEEN)
    await writer.stop()

    lines = writer.json_lines()
    failures = [line for line in lines if line["event"] == "broker.unreachable"]
    assert {line["error"] for line in failures} == {await broker_failure(url)}
    assert not [line for line in lines if str(line["event"]).startswith("lib.aiormq")]
    assert no_traceback(lines)


async def wait_for_count(service: ServiceProcess, event: str, count: int) -> None:
    await wait_until(
        lambda: service.events().count(event) >= count, f"{count} {event} lines", START_SECONDS
    )


async def test_crm_writer_names_the_rd_variable_while_rd_cannot_be_reached(
    processes: ProcessGroup, amqp_url: str, service_topology: Topology, tmp_path: Path
) -> None:
    rd_url = f"http://127.0.0.1:{free_port()}"
    port = free_port()
    env = crm_writer_env(
        amqp_url=amqp_url,
        topology=service_topology,
        port=port,
        store_url=f"sqlite:///{tmp_path}/signdeal.db",
        rd_url=rd_url,
    )
    writer = await processes.start("crm_writer", "services.crm_writer", env, port)

    await wait_for_count(writer, "rd.unreachable", ATTEMPTS_SEEN)
    await writer.stop()

    [first, *_] = [line for line in writer.json_lines() if line["event"] == "rd.unreachable"]
    assert first["error"].startswith(f"the RD sandbox (`make run` starts it) at {rd_url} ")
    assert "(RDSTATION_SANDBOX_URL)" in first["error"]
    assert "check RDSTATION_SANDBOX_URL" in first["error"]
