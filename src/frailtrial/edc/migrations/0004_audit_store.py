"""The audit head holds the store's id, keyed into every HMAC-chained audit row and anchor."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("edc", "0003_audit_head")]

    operations = [
        migrations.AddField(
            model_name="audithead",
            name="store",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
    ]
