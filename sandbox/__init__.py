"""Stand-ins for the outside world: an RD Station CRM v1 sandbox, realistic Clicksign webhooks."""
