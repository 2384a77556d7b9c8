"""service.yaml: a service's metadata, read and checked.

```yaml
code: child-benefit            # unique across the platform, used in URLs
agency: social                 # the agency that runs it
name: Child benefit
description: Monthly support for families with children.
life_events: [having-a-child]
catalogue: true                # optional; false keeps it out of the portal's catalogue
cost_per_transaction: 4.80     # in the government's currency, for the KPIs
sla: P20D                      # target time from submission to completion
queues:                        # where user tasks wait (BPMN candidateGroups)
  benefit-review:
    role: caseworker           # or supervisor
    sla: P5D                   # due this long after the item is created
    at_risk: P4D               # optional; default 80% of the SLA
    priority: 50               # optional; 0-100, higher first
```
Durations are ISO 8601 day-time durations (`P5D`, `PT4H`, `P1W`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from cases.choices import QueueRole

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
DEFAULT_PRIORITY = 50


def parse_duration(text: Any) -> timedelta | None:
    """An ISO 8601 day-time duration (weeks, days, hours, minutes, seconds), or None."""
    if not isinstance(text, str):
        return None
    match = _DURATION.match(text.strip())
    if not match or text.strip() in {"P", "PT"} or text.strip().endswith("T"):
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(
        weeks=parts.get("w", 0),
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )


@dataclass(frozen=True)
class Queue:
    name: str
    role: str
    sla: timedelta
    at_risk: timedelta
    priority: int


@dataclass
class ServiceMetadata:
    code: str
    agency: str
    name: str
    description: str = ""
    life_events: list[str] = field(default_factory=list)
    catalogue: bool = True
    cost_per_transaction: str | None = None
    sla: str | None = None
    queues: dict[str, Queue] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "agency": self.agency,
            "name": self.name,
            "description": self.description,
            "life_events": self.life_events,
            "catalogue": self.catalogue,
            "cost_per_transaction": self.cost_per_transaction,
            "sla": self.sla,
            "queues": {
                q.name: {
                    "role": q.role,
                    "sla": _iso(q.sla),
                    "at_risk": _iso(q.at_risk),
                    "priority": q.priority,
                }
                for q in self.queues.values()
            },
        }


def _iso(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    return f"P{days}DT{rest}S" if rest else f"P{days}D"


def _queue(name: str, raw: Any, errors: list[str]) -> Queue | None:
    where = f"queues.{name}"
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a mapping with role and sla")
        return None
    role = raw.get("role")
    if role not in QueueRole.values:
        errors.append(f"{where}.role: must be one of {', '.join(QueueRole.values)}")
    sla = parse_duration(raw.get("sla"))
    if sla is None or sla <= timedelta(0):
        errors.append(f"{where}.sla: must be a positive ISO 8601 duration such as P5D")
    at_risk = parse_duration(raw["at_risk"]) if "at_risk" in raw else None
    if "at_risk" in raw and (at_risk is None or (sla is not None and at_risk > sla)):
        errors.append(f"{where}.at_risk: must be an ISO 8601 duration no longer than the sla")
    priority = raw.get("priority", DEFAULT_PRIORITY)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
        errors.append(f"{where}.priority: must be a whole number from 0 to 100")
    if sla is None or role not in QueueRole.values or not isinstance(priority, int):
        return None
    return Queue(
        name=name,
        role=str(role),
        sla=sla,
        at_risk=at_risk if at_risk is not None else sla * 0.8,
        priority=int(priority),
    )


def parse_metadata(raw: Any) -> tuple[ServiceMetadata | None, list[str]]:
    """The metadata and the problems found (each naming its key)."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        return None, ["service.yaml must be a mapping of keys to values"]
    for key in ("code", "agency", "name"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            errors.append(f"{key}: is required")
    code, agency = raw.get("code"), raw.get("agency")
    if isinstance(code, str) and not _SLUG.match(code):
        errors.append("code: lower-case letters, digits and hyphens only (at most 80)")
    if isinstance(agency, str) and not _SLUG.match(agency):
        errors.append("agency: must be an agency code")
    events = raw.get("life_events", [])
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        errors.append("life_events: must be a list of names")
    listed = raw.get("catalogue", True)
    if not isinstance(listed, bool):
        errors.append("catalogue: must be true or false")
    cost = raw.get("cost_per_transaction")
    cost_text: str | None = None
    if cost is not None:
        try:
            amount = Decimal(str(cost))
            if amount < 0 or not amount.is_finite():
                raise InvalidOperation
            cost_text = str(amount)
        except InvalidOperation:
            errors.append("cost_per_transaction: must be a non-negative number")
    sla = raw.get("sla")
    if sla is not None and parse_duration(sla) is None:
        errors.append("sla: must be an ISO 8601 duration such as P20D")
    queues: dict[str, Queue] = {}
    raw_queues = raw.get("queues", {}) or {}
    if not isinstance(raw_queues, dict):
        errors.append("queues: must be a mapping of queue names")
        raw_queues = {}
    for name, item in raw_queues.items():
        queue = _queue(str(name), item, errors)
        if queue:
            queues[queue.name] = queue
    known = {
        "code",
        "agency",
        "name",
        "description",
        "life_events",
        "catalogue",
        "cost_per_transaction",
        "sla",
        "queues",
    }
    errors.extend(f"{key}: unknown key" for key in raw if key not in known)
    if errors:
        return None, errors
    return (
        ServiceMetadata(
            code=str(code),
            agency=str(agency),
            name=str(raw["name"]).strip(),
            description=str(raw.get("description") or "").strip(),
            life_events=list(events),
            catalogue=bool(listed),
            cost_per_transaction=cost_text,
            sla=str(sla) if sla is not None else None,
            queues=queues,
        ),
        [],
    )
