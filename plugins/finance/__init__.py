"""The finance plugin: customers to ERP accounts (and, as it grows, pro-formas and invoices)."""
