"""Moments from callers, made safe to compare in any database."""

from datetime import UTC, datetime


def in_utc(moment: datetime) -> datetime:
    """Databases differ on odd UTC offsets (PostgreSQL refuses +16:30): compare in UTC,
    clamping moments whose UTC form falls outside the calendar Python can represent."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.max if moment.year > 1 else datetime.min
        return edge.replace(tzinfo=UTC)
