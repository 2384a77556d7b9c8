"""The life events the portal guides citizens through, defined once.

A service is tagged with the events it belongs to in its service.yaml (`life_events:
[having-a-child]`); the slug here is that tag. `aliases` are other slugs that lead to the
same event (the address people may type or link to).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class LifeEvent:
    slug: str
    name: str | Promise
    description: str | Promise
    aliases: tuple[str, ...] = ()


LIFE_EVENTS: tuple[LifeEvent, ...] = (
    LifeEvent(
        "having-a-child",
        _("Having a baby"),
        _(
            "Register the birth, then claim the support you may be entitled to. What the "
            "Health Service already recorded about the birth does not need to be told again."
        ),
        aliases=("having-a-baby",),
    ),
    LifeEvent(
        "moving-house",
        _("Moving home"),
        _(
            "Tell government your new address once: every agency that holds your address and "
            "has an agreement to receive it is told for you."
        ),
        aliases=("moving-home",),
    ),
    LifeEvent(
        "starting-a-business",
        _("Starting a business"),
        _("The permits and registrations you need before you open your doors."),
    ),
    LifeEvent(
        "losing-a-job",
        _("Losing a job"),
        _("Support while you look for work, and what to tell the agencies that pay you."),
    ),
    LifeEvent(
        "after-a-death",
        _("After a death"),
        _(
            "What to do when someone dies: registering the death, and telling the agencies "
            "that held their records."
        ),
    ),
)


def life_event_get(slug: str) -> LifeEvent | None:
    """The life event a slug (or one of its aliases) names, if any."""
    for event in LIFE_EVENTS:
        if slug == event.slug or slug in event.aliases:
            return event
    return None
