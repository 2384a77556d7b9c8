"""Define the demo's registries (vehicles at Transport, businesses at Revenue) and fill them."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from identity.models import Agency
from identity.services import system_actor
from registries.demo import demo_registries_seed


class Command(BaseCommand):
    help = (
        "Define the vehicle registry (Transport) and business registry (Revenue) and fill "
        "them with records owned by demo people. Idempotent; run after seed_demo and link."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--vehicles", type=int, default=150)
        parser.add_argument("--businesses", type=int, default=80)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--if-empty", action="store_true", help="Leave a registry alone if it has records."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not Agency.objects.filter(code__in=["transport", "revenue"]).count() == 2:
            raise CommandError("The demo agencies are missing: run `manage.py seed_demo` first.")
        results = demo_registries_seed(
            actor=system_actor(),
            vehicles=options["vehicles"],
            businesses=options["businesses"],
            seed=options["seed"],
            if_empty=options["if_empty"],
        )
        for result in results:
            if result.skipped:
                self.stdout.write(f"{result.registry}: has records already, left as it is")
            else:
                self.stdout.write(
                    f"{result.registry}: {result.created} created, {result.updated} updated"
                )
