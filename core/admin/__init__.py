"""The admin console: queue overview and history, dead/retry/inbound lists, actions, audit.

The modules here hold what the console, the admin API and the CLI share (filters,
searches, actions, bulk jobs, snapshots, the audit); ``console`` holds the pages.
"""
