"""`manage.py fire_timers [--queue]`: advance cases whose timers are due (and stalled ones)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cases.services import engine
from identity.services import system_actor


class Command(BaseCommand):
    help = (
        "Advance every case whose timer is due, and every case a stopped worker left "
        "half-way. With --queue, leave it to the task worker instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--queue", action="store_true", help="Queue the cases_fire_timers task instead."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["queue"]:
            from cases.tasks import cases_fire_timers

            cases_fire_timers.enqueue()
            self.stdout.write("Queued cases_fire_timers.")
            return
        report = engine.cases_fire_timers(actor=system_actor())
        self.stdout.write(
            f"Advanced {report.advanced} case(s); {report.needs_attention} need attention."
        )
