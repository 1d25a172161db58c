"""The ``signdeal`` operator command: check the setup, find RD ids, test, read history, replay."""
