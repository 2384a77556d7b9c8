"""Print the demo accounts and their passwords (they exist only in demo databases)."""

from typing import Any

from django.core.management.base import BaseCommand

from demo import services


class Command(BaseCommand):
    help = "Print the demo accounts created by seed_demo, with passwords and MFA hints."

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = services.demo_accounts()
        if not accounts:
            self.stdout.write("No demo accounts yet: run `manage.py seed_demo` first.")
            return
        rows = [("ROLE", "AGENCY", "USERNAME", "PASSWORD", "SECOND FACTOR")]
        for account in accounts:
            hint = f"manage.py totp_code {account.username}" if account.has_totp else ""
            rows.append(
                (account.role, account.agency or "-", account.username, account.password, hint)
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
