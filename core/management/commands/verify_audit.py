"""Recompute the audit trail's hash chain and name the first broken entry."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import audit


class Command(BaseCommand):
    help = (
        "Verify the audit trail: recompute every hash, check the links and the sequence. "
        "Exits 1 and names the first broken entry if the trail was changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--expect-head",
            metavar="HASH",
            help=(
                "A head hash exported earlier (printed by this command); fail if it is no "
                "longer in the trail, which shows that entries were deleted from the end."
            ),
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="Rows read at a time.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = audit.verify(batch_size=options["batch_size"], expect_head=options["expect_head"])
        if not result.ok:
            raise CommandError(
                f"Audit trail broken at entry {result.first_broken_seq}: {result.reason} "
                f"({result.checked} entries before it verified)."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Audit trail intact: {result.checked} entries verified.")
        )
        if result.head_seq is not None:
            self.stdout.write(
                f"Head: entry {result.head_seq}, hash {result.head_hash} "
                "(keep it elsewhere and pass it back with --expect-head)."
            )
