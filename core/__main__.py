"""``python -m core`` runs the crm-sync command line."""

from core.cli import main

main()
