"""Re-encrypt every encrypted field under the current key; with --generate, add a key first.

Safe to stop and run again: each batch commits on its own, and rows already under the
current key are not touched. Plaintext and blind indexes do not change.
"""

from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Cast

from core import crypto
from core.fields import EncryptedTextField, encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt, in batches, every encrypted field value not sealed under the current key "
        "version. --generate first adds a new key to the key file and makes it current (with "
        "keys in CIVICSTACK_KEYS it prints the new JSON to put there, and stops)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--generate",
            action="store_true",
            help="Add a new key version and make it current before re-encrypting.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows per transaction (default 500)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["generate"] and not self._generate():
            return
        crypto.reset_keyring()
        keyring = crypto.get_keyring()
        total = 0
        for model in apps.get_models():
            meta = model._meta
            fields = encrypted_fields(model)
            if not fields or meta.proxy or not meta.managed:
                continue
            count = self._rotate_model(
                model, fields, current=keyring.current, batch_size=batch_size
            )
            total += count
            self.stdout.write(f"{meta.label}: {count} rows re-encrypted")
        self.stdout.write(
            self.style.SUCCESS(
                f"{total} rows re-encrypted; every encrypted value uses key {keyring.current}."
            )
        )
        older = sorted(v for v in keyring.keys if v != keyring.current)
        if older:
            versions = (
                f"Key versions {', '.join(older)} are"
                if len(older) > 1
                else f"Key version {older[0]} is"
            )
            self.stdout.write(
                f"{versions} no longer used by the database; remove them from the keyring "
                "once no backup you may restore needs them."
            )

    def _generate(self) -> bool:
        """Add a key; return whether to go on and re-encrypt with it."""
        if settings.CIVICSTACK_KEYS:
            keyring = crypto.with_new_key(
                crypto.parse_keyring(settings.CIVICSTACK_KEYS, source="environment")
            )
            # The one case where secrets go to stdout: the operator asked for them.
            self.stdout.write(crypto.keyring_to_json(keyring))
            self.stderr.write(
                f"Keys come from CIVICSTACK_KEYS: set it to the JSON above (key "
                f"{keyring.current} is new and current) on every process, restart them, then "
                "run `manage.py rotate_keys` again to re-encrypt."
            )
            return False
        path = Path(settings.CIVICSTACK_KEY_FILE)
        if path.exists():
            keyring = crypto.with_new_key(crypto.read_key_file(path))
            crypto.write_key_file(keyring, path, replace=True)
            self.stdout.write(
                f"Added key version {keyring.current} to {path}; it is now current. "
                "Restart the web and worker processes so that new values use it."
            )
        else:
            if not crypto.write_key_file(crypto.generate_keyring(path=path), path, replace=False):
                raise CommandError(f"{path} appeared while it was being created; run again.")
            self.stdout.write(f"Created the key file {path} (readable by its owner only).")
        crypto.reset_keyring()
        return True

    def _rotate_model(
        self,
        model: type[models.Model],
        fields: list[EncryptedTextField],
        *,
        current: str,
        batch_size: int,
    ) -> int:
        prefix = crypto.token_prefix(current)
        # Read the stored tokens, not the decrypted values, to see which key sealed them.
        raw = {
            f"_raw_{f.attname}": Cast(f.attname, output_field=models.TextField()) for f in fields
        }
        stale = Q()
        for alias in raw:
            stale |= (
                Q(**{f"{alias}__isnull": False})
                & ~Q(**{alias: ""})
                & ~Q(**{f"{alias}__startswith": prefix})
            )
        manager = model._base_manager
        rotated = 0
        last_pk: Any = None
        while True:
            with transaction.atomic():
                queryset = manager.annotate(**raw).filter(stale)
                if last_pk is not None:
                    queryset = queryset.filter(pk__gt=last_pk)
                rows = list(
                    queryset.order_by("pk").select_for_update().values_list("pk", *raw)[:batch_size]
                )
                for pk, *tokens in rows:
                    changes: dict[str, str] = {}
                    for field, token in zip(fields, tokens, strict=True):
                        if token and not token.startswith(prefix):
                            try:
                                changes[field.attname] = crypto.decrypt(
                                    token, context=field.context
                                )
                            except crypto.DecryptionError as exc:
                                raise CommandError(
                                    f"{model._meta.label} pk={pk} {field.name}: {exc} "
                                    f"({rotated} rows were re-encrypted before it)."
                                ) from None
                    # The field seals the plaintext again, under the current key.
                    manager.filter(pk=pk).update(**changes)
            rotated += len(rows)  # counted once the batch has committed
            if len(rows) < batch_size:
                return rotated
            last_pk = rows[-1][0]
