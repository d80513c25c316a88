"""The inventory plugin: stock reservations, deliveries, returns and service parts."""
