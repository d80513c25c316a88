"""crm-sync core: canonical model, storage, outbox, sync engine, plugin host, API and CLI."""
