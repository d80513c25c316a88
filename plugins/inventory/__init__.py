"""The inventory plugin: stock reservations, releases, deliveries, returns (RMA), service parts."""
