"""`manage.py deploy_demo_services`: deploy the demo services (`make demo` runs it).

The services are the directories of `cases/demo_services/` (child benefit, change of
address, business permit). Idempotent: a service whose files have not changed since its
latest version is left alone, so running it at every start deploys only what changed.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.services import definitions
from core.errors import ApplicationError
from identity.services import system_actor

DEMO_SERVICES = Path(__file__).resolve().parents[2] / "demo_services"


class Command(BaseCommand):
    help = (
        "Deploy the demo services (cases/demo_services/: child benefit, change of address, "
        "business permit); a service whose files are unchanged is skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--only", metavar="CODE", action="append", default=[], help="Only this service."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directories = sorted(d for d in DEMO_SERVICES.iterdir() if (d / "service.yaml").is_file())
        if options["only"]:
            unknown = set(options["only"]) - {d.name for d in directories}
            if unknown:
                raise CommandError(f"No demo service {', '.join(sorted(unknown))}.")
            directories = [d for d in directories if d.name in options["only"]]
        actor = system_actor()
        for directory in directories:
            try:
                version, deployed = definitions.service_deploy_if_changed(
                    actor=actor, directory=directory
                )
            except ApplicationError as exc:
                lines = [f"{directory.name}: {exc}"]
                for name, problems in exc.errors.items():
                    lines.extend(f"  {name}: {problem}" for problem in problems)
                raise CommandError("\n".join(lines)) from exc
            state = "deployed" if deployed else "unchanged"
            self.stdout.write(f"{version.service.code}: version {version.version} ({state})")
