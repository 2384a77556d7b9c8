"""The event log as a streamed download, for the API and the pages alike."""

from django.http import StreamingHttpResponse

from cases.analytics.selectors import EventLogExport


def event_log_response(export: EventLogExport) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        (chunk.encode() for chunk in export.chunks), content_type=export.content_type
    )
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Event-Count"] = str(export.events)
    response["Cache-Control"] = "no-store"
    return response
