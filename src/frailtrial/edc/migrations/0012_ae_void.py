"""An adverse event entered in error can be voided with a reason: kept (and audited), left
out of Table 2, the DSMB report, the safety lists and the exports."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("edc", "0011_epro_sessions"),
    ]

    operations = [
        migrations.AddField(
            model_name="adverseevent",
            name="voided_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="adverseevent",
            name="void_reason",
            field=models.CharField(blank=True, default="", max_length=500),
        ),
    ]
