"""manage.py ingest --agency CODE FILE [--mapping FILE] [--format csv|jsonl] [--encoding ENC]
[--workers N]

Loads an agency's export through its feed mapping, with a progress bar on stderr, and ends
with one summary line of counts. Rows that fail validation are kept as rejected rows (see
the agency's feed page); the command fails (non-zero exit) only when the file cannot be
read at all: missing, wrong encoding, broken CSV, a header that does not fit the mapping.
"""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.errors import ApplicationError
from identity.models import Agency
from identity.services import system_actor
from registry.mapping import mapping_parse
from registry.models import BatchChannel, IngestBatch
from registry.services import feeds


class Command(BaseCommand):
    help = "Load an agency's records from a CSV or JSON Lines file through its feed mapping."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the CSV or JSON Lines file")
        parser.add_argument("--agency", required=True, help="the agency's code, e.g. revenue")
        parser.add_argument(
            "--mapping",
            help="a mapping YAML file; saved as the agency's new mapping version if it differs",
        )
        parser.add_argument("--format", choices=["csv", "jsonl"], help="default: the mapping's")
        parser.add_argument("--encoding", help="default: the mapping's (usually utf-8)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--workers",
            type=int,
            help="processes that prepare the rows while this one writes them (0: none); "
            "they pay on idle cores only; default: REGISTRY_INGEST_WORKERS for a large "
            "file, else none",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agency = Agency.objects.filter(code=options["agency"]).first()
        if agency is None:
            raise CommandError(f"No agency with code {options['agency']!r}.")
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from None
        actor = system_actor()
        mapping, spec = feeds.feed_spec_for(agency=agency)
        if options["mapping"]:
            try:
                text = Path(options["mapping"]).read_text(encoding="utf-8")
                candidate = mapping_parse(text)
            except OSError as exc:
                raise CommandError(f"Cannot read the mapping: {exc}") from None
            except ApplicationError as exc:
                raise CommandError(f"{options['mapping']}: {exc.detail}") from None
            if mapping is None or candidate.as_spec() != mapping.spec:
                mapping = feeds.feed_mapping_save(agency=agency, text_or_spec=text, actor=actor)
                self.stderr.write(f"Mapping saved as version {mapping.version} of {agency.code}.")
            spec = candidate
        bar: tqdm[Any] | None = None

        def progress(batch: IngestBatch) -> None:
            nonlocal bar
            if options["no_progress"]:
                return
            if bar is None:
                bar = tqdm(
                    total=batch.total_rows, unit="rows", desc=agency.code, file=self.stderr._out
                )
            bar.update(batch.processed_rows - bar.n)

        try:
            result = feeds.ingest_file(
                agency=agency,
                data=data,
                actor=actor,
                filename=path.name,
                fmt=options["format"],
                encoding=options["encoding"],
                spec=spec,
                mapping=mapping,
                channel=BatchChannel.COMMAND,
                progress=progress,
                workers=options["workers"],
            )
        except feeds.FeedFileUnreadable as exc:
            raise CommandError(f"{path}: {exc.detail}") from None
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(result.summary)
