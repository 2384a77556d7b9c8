"""Writes of the cases app, one module per part.

- `definitions`: `service_deploy` (a service directory -> a new ServiceVersion)
- `engine`: `case_submit`, `case_retry`, `cases_fire_timers` (the persistent case engine)
- `work_items`: claim, release, reassign, complete
- `overrides`: `case_decision_override`
- `notifications`: delivery of notifications the `notify` connector wrote
"""
