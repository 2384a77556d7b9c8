"""Background work of the registry. Tasks take ids, call a service, and are safe to run twice."""

from django.tasks import task

from core.tasks import retrying


@task()
@retrying()
def ingest_upload_run(*, batch_id: str) -> None:
    """Load an uploaded feed file; a batch already finished is left as it is."""
    from identity.services import system_actor
    from registry.services import feeds

    feeds.ingest_upload_process(batch_id=batch_id, actor=system_actor())


@task()
@retrying()
def records_match_run(*, record_ids: list[int]) -> None:
    """Match records a feed just loaded (real time); matching twice leaves them as they are."""
    from identity.services import system_actor
    from registry.services import linkage

    linkage.records_match(record_ids=record_ids, actor=system_actor())
