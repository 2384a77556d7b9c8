"""English dates as a government page writes them: "29 November 2026", "29 November 2026, 15:11".

Django's own English formats are American ("Nov. 29, 2026"); Spanish keeps Django's
("29 de noviembre de 2026"). Templates use `date:"DATE_FORMAT"` / `date:"DATETIME_FORMAT"`,
so each language gets its own.
"""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H:i"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
