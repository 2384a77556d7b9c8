"""The audit entry's hash needs no index: no query looks an entry up by it, and an index on
a random key is one more page written for every entry.

On SQLite, altering the field rebuilds the table, which drops its append-only triggers:
the guard is taken off around the change and put back after it (on PostgreSQL the index is
only dropped, and putting the guard back is harmless).
"""

from django.db import migrations, models


def install(apps, schema_editor):
    from core.audit import install_db_guard

    install_db_guard(schema_editor.connection)


def remove(apps, schema_editor):
    from core.audit import remove_db_guard

    remove_db_guard(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_audit_entry_db_guard"),
    ]

    operations = [
        migrations.RunPython(remove, install, elidable=False),
        migrations.AlterField(
            model_name="auditentry",
            name="hash",
            field=models.CharField(max_length=64, verbose_name="hash"),
        ),
        migrations.RunPython(install, remove, elidable=False),
    ]
