"""Background work: the durable job queue in the database and the worker loop."""
