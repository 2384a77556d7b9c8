"""`manage.py deploy_service DIR [--agency CODE] [--activate-at ISO]`: deploy a service."""

from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.services import definitions
from core.errors import ApplicationError
from identity.models import Agency
from identity.services import system_actor


class Command(BaseCommand):
    help = (
        "Check a service directory (service.yaml, one .bpmn, .dmn files, form.json) and "
        "deploy it as the service's next version. Nothing is deployed if anything is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="The service directory.")
        parser.add_argument(
            "--agency", metavar="CODE", help="The agency (default: service.yaml's)."
        )
        parser.add_argument(
            "--activate-at",
            metavar="ISO",
            help="When new cases start on this version, e.g. 2030-01-01T00:00:00Z (default now).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["directory"]
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        agency = None
        if options["agency"]:
            agency = Agency.objects.filter(code=options["agency"]).first()
            if agency is None:
                raise CommandError(f"There is no agency {options['agency']!r}.")
        activate_at = None
        if options["activate_at"]:
            try:
                activate_at = datetime.fromisoformat(options["activate_at"])
            except ValueError:
                raise CommandError("--activate-at must be an ISO 8601 date and time.") from None
            if activate_at.tzinfo is None:
                raise CommandError("--activate-at needs a time zone, e.g. ...T00:00:00Z.")
        try:
            version = definitions.service_deploy(
                actor=system_actor(), directory=directory, agency=agency, activate_at=activate_at
            )
        except ApplicationError as exc:
            lines = [str(exc)]
            for name, problems in exc.errors.items():
                lines.extend(f"  {name}: {problem}" for problem in problems)
            raise CommandError("\n".join(lines)) from exc
        self.stdout.write(
            f"Deployed {version.service.code} version {version.version}, active from "
            f"{version.activates_at.isoformat()}, with decisions "
            f"{', '.join(sorted(version.decisions)) or 'none'}."
        )
