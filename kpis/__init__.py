"""Sales KPIs computed in the database: definitions, periods, targets and reports.

``kpis.catalog`` lists every KPI, ``kpis.queries`` holds the SQL each is computed
with, ``kpis.periods`` reads periods such as ``1404-07``; docs/kpis.md defines each
figure and states every choice a definition needs.
"""
