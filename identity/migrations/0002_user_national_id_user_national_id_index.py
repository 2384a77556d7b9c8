from django.db import migrations

import core.fields


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="national_id",
            field=core.fields.EncryptedTextField(blank=True, default="", verbose_name="national ID"),
        ),
        migrations.AddField(
            model_name="user",
            name="national_id_index",
            field=core.fields.BlindIndexField(context="person.national_id", source="national_id"),
        ),
    ]
