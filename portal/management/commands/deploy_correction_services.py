"""`manage.py deploy_correction_services`: one "correct your data" service per agency.

Each agency holding records about people gets `data-correction-<agency>`, from the shared
definition in cases/demo_services/data-correction/ (see `portal.corrections`). Idempotent:
an unchanged service is left alone, so it can run at every start after the demo seeding.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from identity.models import Agency
from identity.services import system_actor
from portal.corrections import correction_services_deploy


class Command(BaseCommand):
    help = (
        "Deploy the data-correction service of every agency that holds records about people "
        "(or only --agency CODE); an unchanged service is skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--agency", metavar="CODE", action="append", default=[], help="Only this agency."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agencies = None
        if options["agency"]:
            agencies = list(Agency.objects.filter(code__in=options["agency"]))
            unknown = set(options["agency"]) - {a.code for a in agencies}
            if unknown:
                raise CommandError(f"No agency {', '.join(sorted(unknown))}.")
        try:
            done = correction_services_deploy(actor=system_actor(), agencies=agencies)
        except ApplicationError as exc:
            lines = [str(exc)]
            for name, problems in exc.errors.items():
                lines.extend(f"  {name}: {problem}" for problem in problems)
            raise CommandError("\n".join(lines)) from exc
        for version, deployed in done:
            state = "deployed" if deployed else "unchanged"
            self.stdout.write(f"{version.service.code}: version {version.version} ({state})")
