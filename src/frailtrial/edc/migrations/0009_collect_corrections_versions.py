"""Record versions for the audited corrections of screenings, consents and infusions
(visits, CRFs and adverse events had one): a correction made on a version someone else has
changed since is refused. A consent's ``version`` is its form version, so its record version
is ``record_version``. And the participants' running logs (concomitant medications, protocol
deviations, end of study)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("edc", "0008_ae_workflow_lock_pharmacy"),
    ]

    operations = [
        migrations.AddField(
            model_name="screening",
            name="version",
            field=models.IntegerField(default=1),
        ),
        migrations.AddField(
            model_name="consent",
            name="record_version",
            field=models.IntegerField(default=1),
        ),
        migrations.AddField(
            model_name="infusion",
            name="version",
            field=models.IntegerField(default=1),
        ),
        migrations.CreateModel(
            name="LogRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("form", models.CharField(max_length=40)),
                ("answers", models.JSONField()),
                ("version", models.IntegerField(default=1)),
                ("entered_at", models.DateTimeField()),
                (
                    "participant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="log_records",
                        to="edc.participant",
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["participant", "form"], name="log_form_idx")],
            },
        ),
    ]
