"""The case event log written for process-mining tools: CSV, or XES (IEEE 1849-2016).

Both writers take the rows of the log in case order (all rows of a case together, each case
in completion order) and yield text chunks, so a big log streams to a file or an HTTP answer
without being held in memory; only one case's events are held at a time.

XES: a `<log xes.version="1849-2016">` declaring the Concept, Time, Lifecycle and
Organizational extensions, one `<trace>` per case (concept:name = the case reference) and,
for every activity of the log, a `start` and a `complete` event (concept:name,
time:timestamp in ISO 8601 with its offset, lifecycle:transition, org:resource), ordered
by time within the trace. Every element is built and escaped by xml.etree.
"""

from __future__ import annotations

import csv
import io
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

XES_NAMESPACE = "http://www.xes-standard.org/"
XES_VERSION = "1849-2016"
EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)
CSV_COLUMNS = ("case_id", "activity", "start", "end", "resource", "service", "version")
FORMATS = {"csv": "text/csv; charset=utf-8", "xes": "application/xml; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class ExportRow:
    case: str
    activity: str
    started_at: datetime
    ended_at: datetime
    resource: str
    service: str
    version: int


def timestamp(moment: datetime) -> str:
    """ISO 8601 with milliseconds and the offset, as xs:dateTime in XES wants it."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r} in the event log")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


# --- CSV ----------------------------------------------------------------------------------


def csv_chunks(rows: Iterable[ExportRow], *, batch: int = 500) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for count, row in enumerate(rows, start=1):
        writer.writerow(
            (
                row.case,
                row.activity,
                timestamp(row.started_at),
                timestamp(row.ended_at),
                row.resource,
                row.service,
                row.version,
            )
        )
        if count % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# --- XES ----------------------------------------------------------------------------------


def _attr(parent: ET.Element, kind: str, key: str, value: str) -> ET.Element:
    return ET.SubElement(parent, kind, {"key": key, "value": value})


def _header(name: str) -> str:
    log = ET.Element("log", {"xes.version": XES_VERSION, "xmlns": XES_NAMESPACE})
    for ext_name, prefix, uri in EXTENSIONS:
        ET.SubElement(log, "extension", {"name": ext_name, "prefix": prefix, "uri": uri})
    trace_global = ET.SubElement(log, "global", {"scope": "trace"})
    _attr(trace_global, "string", "concept:name", "UNKNOWN")
    event_global = ET.SubElement(log, "global", {"scope": "event"})
    _attr(event_global, "string", "concept:name", "UNKNOWN")
    _attr(event_global, "date", "time:timestamp", "1970-01-01T00:00:00.000+00:00")
    _attr(event_global, "string", "lifecycle:transition", "complete")
    _attr(event_global, "string", "org:resource", "UNKNOWN")
    ET.SubElement(log, "classifier", {"name": "Activity", "keys": "concept:name"})
    ET.SubElement(
        log,
        "classifier",
        {"name": "ActivityTransition", "keys": "concept:name lifecycle:transition"},
    )
    _attr(log, "string", "concept:name", name)
    _attr(log, "string", "lifecycle:model", "standard")
    text = ET.tostring(log, encoding="unicode")
    closing = "</log>"
    assert text.endswith(closing)  # the log has children, so it is not self-closed
    return text[: -len(closing)]


def _trace(case: str, rows: list[ExportRow]) -> ET.Element:
    trace = ET.Element("trace")
    _attr(trace, "string", "concept:name", case)
    _attr(trace, "string", "service", rows[0].service)
    _attr(trace, "int", "version", str(rows[0].version))
    moments = []
    for index, row in enumerate(rows):
        moments.append((row.started_at, index, 0, "start", row))
        moments.append((row.ended_at, index, 1, "complete", row))
    moments.sort(key=lambda m: (m[0], m[1], m[2]))
    for moment, _index, _order, transition, row in moments:
        event = ET.SubElement(trace, "event")
        _attr(event, "string", "concept:name", row.activity)
        _attr(event, "date", "time:timestamp", timestamp(moment))
        _attr(event, "string", "lifecycle:transition", transition)
        _attr(event, "string", "org:resource", row.resource)
    return trace


def xes_chunks(rows: Iterable[ExportRow], *, name: str) -> Iterator[str]:
    """The log as XES text, one case at a time (rows must come grouped by case)."""
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield _header(name) + "\n"
    for case, group in itertools.groupby(rows, key=lambda r: r.case):
        yield ET.tostring(_trace(case, list(group)), encoding="unicode") + "\n"
    yield "</log>\n"


def chunks(rows: Iterable[ExportRow], *, fmt: str, name: str) -> Iterator[str]:
    if fmt == "csv":
        return csv_chunks(rows)
    if fmt == "xes":
        return xes_chunks(rows, name=name)
    raise ValueError(f"unknown event log format {fmt!r} (csv or xes)")
