"""Register a calling system for the GovStack APIs (Information-Mediator-Client)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from identity import services
from identity.models import Agency, User


class Command(BaseCommand):
    help = "Register INSTANCE/CLASS/MEMBER/SUBSYSTEM as a calling system of an agency."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("identifier", help="INSTANCE/CLASS/MEMBER/SUBSYSTEM")
        parser.add_argument("--agency", required=True, help="agency code")
        parser.add_argument("--name", default="", help="a readable name")
        parser.add_argument("--account", default="", help="username the system acts as")

    def handle(self, *args: Any, **options: Any) -> None:
        agency = Agency.objects.filter(code=options["agency"]).first()
        if agency is None:
            raise CommandError(f"no agency {options['agency']!r}")
        account = None
        if options["account"]:
            account = User.objects.filter(username=options["account"]).first()
            if account is None:
                raise CommandError(f"no account {options['account']!r}")
        try:
            client = services.system_client_register(
                actor=services.system_actor(),
                agency=agency,
                identifier=options["identifier"],
                name=options["name"] or options["identifier"],
                account=account,
            )
        except ApplicationError as exc:
            raise CommandError(f"{exc.detail} {exc.errors}") from exc
        self.stdout.write(f"registered {client.identifier} for {agency.code}")
