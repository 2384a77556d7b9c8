"""Create the demo government: agencies, demo accounts and a synthetic population.

manage.py seed_demo --people 10000 --seed 42 --truth var/truth.csv
"""

import contextlib
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from demo import services
from identity.services import system_actor


class Command(BaseCommand):
    help = (
        "Create the four demo agencies, a partner, demo accounts for every role and N "
        "synthetic people as each agency's source system holds them (with realistic errors)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--people", type=int, default=10_000, help="How many people.")
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same data.")
        parser.add_argument(
            "--truth",
            type=Path,
            help="Write agency,agency_record_id,true_person_id rows (CSV) to this file.",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if source records are loaded already.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete the demo agencies' source records and load them again.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=services.DEFAULT_BATCH_SIZE, help="Rows per insert."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        people: int = options["people"]
        batch_size: int = options["batch_size"]
        if people < 0:
            raise CommandError("--people must be zero or more.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        truth_path: Path | None = options["truth"]
        verbosity: int = options["verbosity"]

        def progress(step: services.LoadProgress) -> None:
            if verbosity:
                self.stderr.write(
                    f"  {step.people:>9,} people  {step.records:>10,} records  "
                    f"{step.people_per_second:>8,.0f} people/s"
                )

        # The truth goes to a temporary file that replaces the target only when the load
        # commits: a skipped or failed run leaves an earlier truth file as it was.
        partial = truth_path.with_name(f".{truth_path.name}.partial") if truth_path else None
        try:
            with contextlib.ExitStack() as stack:
                truth: TextIO | None = None
                if partial is not None:
                    partial.parent.mkdir(parents=True, exist_ok=True)
                    truth = stack.enter_context(partial.open("w", encoding="utf-8", newline=""))
                result = services.demo_government_seed(
                    actor=system_actor(),
                    people=people,
                    seed=options["seed"],
                    batch_size=batch_size,
                    truth=truth,
                    if_empty=options["if_empty"],
                    replace=options["replace"],
                    progress=progress,
                )
            if partial is not None and truth_path is not None and not result.skipped:
                partial.replace(truth_path)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if partial is not None:
                partial.unlink(missing_ok=True)
        if result.skipped:
            self.stdout.write(f"Demo government already seeded ({result.records:,} records).")
            return
        by_agency = ", ".join(
            f"{code} {n:,}" for code, n in sorted(result.records_by_agency.items())
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.agencies} agencies, {result.accounts} demo accounts, "
                f"{result.people:,} people and {result.records:,} source records "
                f"({by_agency}) in {result.seconds:.1f}s."
            )
        )
        if truth_path is not None:
            self.stdout.write(f"Truth written to {truth_path}.")
        self.stdout.write("Demo accounts: manage.py demo_accounts")
