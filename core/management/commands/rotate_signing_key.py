"""Rotate the platform's Ed25519 signing key, or export the public keys for auditors."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import signing


class Command(BaseCommand):
    help = (
        "Make a fresh signing key current (older keys stay, to verify what they signed), "
        "or with --export-public write the public keys for offline verification."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--export-public", metavar="FILE", help="write public keys only")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["export_public"]:
            keyring = signing.get_signing_keyring()
            Path(options["export_public"]).write_text(
                signing.signing_keyring_to_json(keyring, public_only=True) + "\n"
            )
            self.stdout.write(f"wrote {len(keyring.keys)} public key(s)")
            return
        if settings.CIVICSTACK_SIGNING_KEYS:
            raise CommandError(
                "Keys come from CIVICSTACK_SIGNING_KEYS: rotate them where that is set "
                "(add a key, make it current, keep the old public keys)."
            )
        path = Path(settings.CIVICSTACK_SIGNING_KEY_FILE)
        keyring = (
            signing.load_signing_keyring() if path.exists() else signing.generate_signing_keyring()
        )
        if path.exists():
            keyring = signing.with_new_signing_key(keyring)
        signing.write_signing_key_file(keyring, path, replace=True)
        signing.reset_signing_keyring()
        self.stdout.write(f"current signing key is now {keyring.current}")
