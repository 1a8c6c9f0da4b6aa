"""Each user's interface language is kept on the account (every membership of the user), so
it follows the user to any device at login."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("edc", "0012_ae_void"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="language",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
    ]
