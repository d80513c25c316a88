"""What plugin authors and crm-sync's own tests use to test against real services."""
