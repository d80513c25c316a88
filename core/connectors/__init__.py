"""Connection code for targets, shared by bundled and third-party plugins: webhook, Tryton, Odoo."""
