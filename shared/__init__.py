"""Code both signdeal services import: the wire event, AMQP topology, settings and logging."""
