"""`manage.py export_event_log --service CODE [--format csv|xes] [--service-version N] FILE`."""

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import selectors
from cases.analytics import selectors as analytics
from core.errors import ApplicationError
from identity.services import system_actor


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date like 2025-01-31.") from None


class Command(BaseCommand):
    help = (
        "Write a service's case event log (case, activity, start, end, resource) as CSV or "
        "as XES (IEEE 1849-2016) for process-mining tools. Recorded in the audit trail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The file to write ('-' for stdout).")
        parser.add_argument("--service", required=True, metavar="CODE", help="The service.")
        parser.add_argument("--format", choices=["csv", "xes"], default=None)
        parser.add_argument("--service-version", dest="service_version", type=int, metavar="N")
        parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        fmt = options["format"] or ("xes" if path.suffix.lower() == ".xes" else "csv")
        actor = system_actor()
        try:
            service = selectors.service_get(viewer=actor, code=options["service"])
            window = analytics.Window(
                version=options["service_version"],
                date_from=_day(options["date_from"]) if options["date_from"] else None,
                date_to=_day(options["date_to"]) if options["date_to"] else None,
            )
            export = analytics.event_log_export(
                viewer=actor, service=service, fmt=fmt, window=window
            )
            if str(path) == "-":
                for chunk in export.chunks:
                    self.stdout.write(chunk, ending="")
                return
            partial = path.with_name(f".{path.name}.partial")
            path.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("w", encoding="utf-8", newline="") as out:
                for chunk in export.chunks:
                    out.write(chunk)
            partial.replace(path)
        except ApplicationError as exc:
            lines = [str(exc)]
            for name, problems in exc.errors.items():
                lines.extend(f"  {name}: {problem}" for problem in problems)
            raise CommandError("\n".join(lines)) from exc
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc
        self.stderr.write(f"Wrote {export.events:,} events of {service.code} to {path} ({fmt}).")
