"""Verify the exchange's message log: every hash, link and signature (offline if wanted)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import signing
from exchange.messages import message_log_verify


class Command(BaseCommand):
    help = (
        "Recompute the message log's hashes and links and check every signature. "
        "With --public-keys FILE only that file's public keys are trusted (offline audit)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", help="start at the first entry of this date (YYYY-MM-DD)")
        parser.add_argument("--public-keys", help="a public key export (rotate_signing_key)")

    def handle(self, *args: Any, **options: Any) -> None:
        since = None
        if options["since"]:
            try:
                since = datetime.fromisoformat(options["since"]).replace(tzinfo=UTC)
            except ValueError as exc:
                raise CommandError(f"--since must be a date like 2026-11-29: {exc}") from exc
        keyring = None
        if options["public_keys"]:
            text = Path(options["public_keys"]).read_text(encoding="utf-8")
            keyring = signing.parse_signing_keyring(text, where="--public-keys", verify_only=True)
        result = message_log_verify(since=since, keyring=keyring)
        if not result.ok:
            raise CommandError(
                f"message log broken at entry {result.first_broken_seq}: {result.reason} "
                f"({result.checked} entries verified before it)"
            )
        self.stdout.write(f"message log intact: {result.checked} entries verified")
