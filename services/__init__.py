"""The two signdeal services: ``ingest`` (webhooks in) and ``crm_writer`` (deals out)."""
