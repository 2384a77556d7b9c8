"""Create the demo's purposes, data agreements and data services (once)."""

from typing import Any

from django.core.management.base import BaseCommand

from demo.sharing import demo_sharing_ensure
from identity.services import system_actor


class Command(BaseCommand):
    help = "Create the demo's purposes, data agreements and data services; again changes nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        created = demo_sharing_ensure(actor=system_actor())
        self.stdout.write(
            f"data sharing: {created['purposes']} purposes, {created['agreements']} agreements, "
            f"{created['services']} data services, {created['subscriptions']} event "
            "subscriptions created"
        )
