"""Run the event outbox: deliver due deliveries to subscribers, retry, dead-letter.

    python manage.py deliver_events              # run until stopped (SIGTERM/SIGINT)
    python manage.py deliver_events --once       # deliver what is due now, then exit
    python manage.py deliver_events --until-done # exit when nothing is pending at all

Any number may run at once, on any host: each claims its own deliveries with a lease.
SIGTERM finishes the batch in hand first; a worker killed outright leaves its claims to
come back when their lease ends.
"""

from __future__ import annotations

import json
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exchange.events.delivery import DeliveryConfig, RunCounts, deliver_loop


class Command(BaseCommand):
    help = "Deliver events to their subscribers (the transactional outbox worker)."
    # A worker restarted after a crash should be delivering again within a second; the
    # system checks (URLconf, templates, ...) concern the web process and are run there.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="deliver what is due, then exit")
        mode.add_argument(
            "--until-done", action="store_true", help="exit when no delivery is pending"
        )
        parser.add_argument("--batch", type=int, help="deliveries claimed at a time")
        parser.add_argument("--lease", type=float, help="seconds a claim is held")
        parser.add_argument("--concurrency", type=int, help="webhooks sent at once")
        parser.add_argument("--timeout", type=float, help="seconds to wait for a receiver")
        parser.add_argument("--poll", type=float, default=1.0, help="seconds between sweeps")
        parser.add_argument("--max-seconds", type=float, help="stop after this long")
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = DeliveryConfig.from_settings(
                batch=options["batch"],
                lease_seconds=options["lease"],
                concurrency=options["concurrency"],
                timeout_seconds=options["timeout"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        stopping = {"now": False}

        def stop(signum: int, frame: Any) -> None:
            stopping["now"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        totals: RunCounts = deliver_loop(
            config=config,
            once=options["once"],
            until_done=options["until_done"],
            poll_seconds=options["poll"],
            max_seconds=options["max_seconds"],
            should_stop=lambda: stopping["now"],
        )
        counts = vars(totals)
        if options["json"]:
            self.stdout.write(json.dumps(counts))
        else:
            self.stdout.write(", ".join(f"{k} {v}" for k, v in counts.items()))
