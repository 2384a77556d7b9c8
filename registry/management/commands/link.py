"""`manage.py link [--engine duckdb|spark] [--retrain] [--threshold P]`: batch linkage."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from identity.services import system_actor
from registry.linkage.pipeline import ENGINES
from registry.models import SourceRecord
from registry.services import linkage


class Command(BaseCommand):
    help = (
        "Link every source record into master persons with the active linkage model "
        "(trained first if there is none, or with --retrain), keeping person ids stable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--engine", choices=ENGINES, default="duckdb", help="Splink backend.")
        parser.add_argument(
            "--retrain", action="store_true", help="Train a new model version first."
        )
        parser.add_argument(
            "--if-unlinked",
            action="store_true",
            help="Do nothing when every source record already has a person (for make demo).",
        )
        parser.add_argument(
            "--threshold",
            type=float,
            default=None,
            metavar="P",
            help="Match probability to join a person (default: the model's).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        threshold = options["threshold"]
        if threshold is not None and not 0 < threshold < 1:
            raise CommandError("--threshold must be a probability between 0 and 1.")
        retrain = options["retrain"]
        if options["if_unlinked"]:
            stale = _model_is_stale()
            if stale:
                self.stdout.write(f"The linkage model must be retrained: {stale}")
                retrain = True
            elif not SourceRecord.objects.filter(person__isnull=True).exists():
                self.stdout.write("Every source record already has a person: nothing to link.")
                return
        stages: dict[str, float] = {}
        try:
            run = linkage.link_run(
                actor=system_actor(),
                engine=options["engine"],
                retrain=retrain,
                threshold=threshold,
                timings=stages,
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Link run {run.pk} with model v{run.model.version} on {run.engine}: "
            f"{run.records:,} records, {run.pairs:,} pairs scored, {run.persons:,} persons "
            f"({run.persons_created:,} new, {run.persons_retired:,} retired), "
            f"{run.membership_changes:,} membership changes, {run.review_pairs:,} pairs "
            f"for review, in {run.seconds:.1f} s."
        )
        self.stdout.write(
            "Stages: " + ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in stages.items())
        )


def _model_is_stale() -> str:
    """Why the active model cannot score with this code's comparisons ("" when it can)."""
    from registry.linkage.model import check_spec
    from registry.services.linkage import linkage_model_active

    active = linkage_model_active()
    if active is None:
        return ""
    try:
        check_spec(active.splink_model)
    except ValueError as exc:
        return str(exc)
    return ""
