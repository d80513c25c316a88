"""Storage: the declarative base, column types, tables, engines and migrations."""
