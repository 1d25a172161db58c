"""Fixtures every test directory shares, one plugin module per thing they provide.

The root ``conftest.py`` registers them (``pytest_plugins``): ``broker`` (RabbitMQ and the
test's own AMQP names), ``stores`` (PostgreSQL databases, SQLite files, a store of each backend),
``rd_sandbox`` (the RD Station and Clicksign stand-ins, clients of them, the deal settings and
the pipeline over them), ``consumers`` (crm_writer's consumer in process), ``processes`` (the
services as real processes), ``logs`` (log output into a buffer, and logging's global state put
back) and ``environment`` (no signdeal variable of the machine leaks in). A directory's own
``conftest.py`` keeps what only that directory uses.
"""
