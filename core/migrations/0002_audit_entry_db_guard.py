"""The database itself refuses UPDATE, DELETE and TRUNCATE on the audit trail.

PostgreSQL: a trigger function raising an exception, fired BEFORE UPDATE OR DELETE for each
row and BEFORE TRUNCATE for each statement. SQLite: BEFORE UPDATE and BEFORE DELETE triggers
that RAISE(ABORT). Other databases are left to the hash chain and revoked privileges.
"""

from django.db import migrations


def install(apps, schema_editor):
    from core.audit import install_db_guard

    install_db_guard(schema_editor.connection)


def remove(apps, schema_editor):
    from core.audit import remove_db_guard

    remove_db_guard(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_audit_entry"),
    ]

    operations = [
        migrations.RunPython(install, remove, elidable=False),
    ]
