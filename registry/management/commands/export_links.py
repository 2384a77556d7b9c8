"""`manage.py export_links FILE.csv`: agency,agency_record_id,person_id for every record."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from identity.services import system_actor
from registry.services import linkage


class Command(BaseCommand):
    help = "Write agency,agency_record_id,person_id for every source record to a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file to write ('-' for stdout).")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            if str(path) == "-":
                count = linkage.persons_export_links(actor=system_actor(), out=self.stdout)
                return
            partial = path.with_name(f".{path.name}.partial")
            path.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("w", encoding="utf-8", newline="") as out:
                count = linkage.persons_export_links(actor=system_actor(), out=out)
            partial.replace(path)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc
        self.stderr.write(f"Wrote {count:,} links to {path}.")
