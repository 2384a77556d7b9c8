"""Django's flush, able to empty the append-only audit table.

The database refuses DELETE and TRUNCATE on the audit trail, and flush (run by
TransactionTestCase and pytest's transactional_db after each test) empties every table.
This lifts that refusal for the flush's own transaction only.
"""

from typing import Any

from django.core.management.commands import flush

from core.audit import db_guard_suspended


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        with db_guard_suspended(using=options["database"]):
            super().handle(**options)
