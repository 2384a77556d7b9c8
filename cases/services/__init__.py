"""Writes of the cases app, one module per part.

- `definitions`: `service_deploy` (a service directory -> a new ServiceVersion),
  `service_deploy_if_changed`
- `engine`: `case_submit`, `case_retry`, `cases_fire_timers` (the persistent case engine)
- `work_items`: claim, release, reassign, complete
- `overrides`: `case_decision_override`
- `notifications`: delivery of notifications the `notify` connector wrote (e-mail, SMS)
- `messages`: a case's conversation (`case_message_send`, `case_messages_mark_read`,
  `case_messages`)
- `simulation`: `case_decisions_reevaluate` (a candidate rule version on past cases)
"""
