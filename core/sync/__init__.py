"""The sync engine: outbox claims, pushes, retries, broker, workers and sweeper."""
