"""Process analytics of the cases app: the event log (CSV, XES) and what is mined from it.

- `compute`: pure computation with DuckDB over plain rows (directly-follows graph, throughput
  percentiles, SLA compliance, backlog age), unit-tested on hand-built logs;
- `eventlog`: the event log written as CSV or XES (IEEE 1849-2016), streamed;
- `selectors`: the database reads behind them, authorised with `service.view`.
"""
