"""The Spanish catalogue is complete, and the citizen portal speaks it."""

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from identity.tests.factories import CitizenFactory
from portal.tests import factories

SPANISH = Path(settings.LOCALE_PATHS[0]) / "es" / "LC_MESSAGES" / "django.po"
SHOWN = 5  # offending msgids named in a failure

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+"(.*)"\s*$')


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


@dataclass
class Entry:
    flags: set[str] = field(default_factory=set)
    parts: dict[str, str] = field(default_factory=dict)

    @property
    def msgid(self) -> str:
        return self.parts.get("msgid", "")

    @property
    def translations(self) -> list[str]:
        return [value for key, value in self.parts.items() if key.startswith("msgstr")]


def parse_po(text: str) -> list[Entry]:
    """The live entries of a .po file: obsolete `#~` entries and comments are skipped."""
    entries: list[Entry] = []
    current = Entry()
    key = None
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if not line:
            if "msgid" in current.parts:
                entries.append(current)
            current, key = Entry(), None
        elif line.startswith("#,"):
            current.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif match := _KEYWORD.match(line):
            key = match.group(1)
            current.parts[key] = _unquote(match.group(2))
        elif line.startswith('"') and line.endswith('"') and key is not None:
            current.parts[key] += _unquote(line[1:-1])
        else:
            raise ValueError(f"Unreadable line in the catalogue: {raw!r}")
    return entries


def incomplete(entries: list[Entry]) -> list[str]:
    """The msgids still fuzzy or with an empty translation (the header is exempt)."""
    return [
        entry.msgid
        for entry in entries
        if entry.msgid
        and ("fuzzy" in entry.flags or not entry.translations or not all(entry.translations))
    ]


def test_the_check_finds_fuzzy_and_untranslated_entries():
    # given a catalogue with a header, a good entry, a fuzzy one, an untranslated
    # multi-line one, a plural with a missing form and an obsolete one
    text = "\n".join(
        [
            'msgid ""',
            'msgstr ""',
            '"Language: es\\n"',
            "",
            'msgid "Back"',
            'msgstr "Volver"',
            "",
            "#, fuzzy, python-format",
            '#| msgid "Page %(n)s"',
            'msgid "Question %(n)s"',
            'msgstr "Página %(n)s"',
            "",
            'msgid ""',
            '"A long \\"quoted\\" "',
            '"sentence"',
            'msgstr ""',
            "",
            'msgid "%(n)s service"',
            'msgid_plural "%(n)s services"',
            'msgstr[0] "%(n)s servicio"',
            'msgstr[1] ""',
            "",
            '#~ msgid "Gone"',
            '#~ msgstr ""',
        ]
    )
    # when it is checked
    offending = incomplete(parse_po(text))
    # then exactly the fuzzy, untranslated and half-translated entries are named
    assert offending == ["Question %(n)s", 'A long "quoted" sentence', "%(n)s service"]


def test_every_spanish_entry_is_translated_and_checked():
    # given the Spanish catalogue as committed
    entries = parse_po(SPANISH.read_text(encoding="utf-8"))
    assert len(entries) > 100, "the catalogue looks empty or unreadable"
    # when it is checked
    offending = incomplete(entries)
    # then nothing is fuzzy or untranslated
    assert not offending, (
        f"{len(offending)} Spanish entries are fuzzy or untranslated in {SPANISH.name}, "
        f"for example: {offending[:SHOWN]}"
    )


@pytest.mark.django_db
def test_the_service_catalogue_speaks_spanish_when_asked():
    # given a citizen signed in and a service they can apply for
    factories.deploy(code="baby-grant", name="Baby grant")
    client = Client()
    client.force_login(CitizenFactory(username="lucia"))
    # when the catalogue is asked for in Spanish
    response = client.get("/portal/services/", HTTP_ACCEPT_LANGUAGE="es")
    # then the page's own words are Spanish, and the service is still listed
    page = response.content.decode()
    assert response.status_code == 200
    assert 'lang="es"' in page
    assert "Solicitar un servicio" in page
    assert "Filtrar por organismo" in page
    assert "Apply for a service" not in page
    assert "Baby grant" in page
