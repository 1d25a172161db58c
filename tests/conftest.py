"""Every test's fixtures come from the plugin modules under ``tests/plugins/``, one per thing
they provide (see its ``__init__``); a directory's ``conftest.py`` keeps what only it uses."""

pytest_plugins = [
    "tests.plugins.broker",
    "tests.plugins.stores",
    "tests.plugins.rd_sandbox",
    "tests.plugins.consumers",
    "tests.plugins.processes",
    "tests.plugins.logs",
    "tests.plugins.environment",
]
