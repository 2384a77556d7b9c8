"""`manage.py dmn_tck DIR [--json FILE]`: run DMN TCK cases; ends with `N passed, M failed`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisions.dmn.tck import run_directory


class Command(BaseCommand):
    help = "Run the DMN TCK test cases under DIR; counts test cases (all result nodes must match)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="a folder holding TCK cases (searched recursively)")
        parser.add_argument("--json", dest="json_file", help="also write the results to FILE")

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory")
        report = run_directory(directory)
        for failure in report.failures:
            self.stdout.write(failure.line())
        if options.get("json_file"):
            Path(options["json_file"]).write_text(
                json.dumps(
                    {"passed": report.passed, "failed": report.failed, "cases": report.results},
                    indent=2,
                ),
                encoding="utf-8",
            )
        self.stdout.write(f"{report.passed} passed, {report.failed} failed")
