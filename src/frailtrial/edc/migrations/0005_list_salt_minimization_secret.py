"""Lists keep their header's seed kind and salt (the commitment is re-checked from the stored
entries at every allocation); minimization draws from a 128-bit secret per trial instead of a
seed derived from the trial's name (which anyone could recompute)."""

import secrets
from typing import Any

from django.db import migrations, models


def draw_secrets(apps: Any, schema_editor: Any) -> None:
    trial = apps.get_model("edc", "Trial")
    for t in trial.objects.all():
        t.minimization_secret = secrets.token_hex(16)
        t.save(update_fields=["minimization_secret"])


class Migration(migrations.Migration):
    dependencies = [("edc", "0004_audit_store")]

    operations = [
        migrations.AddField(
            model_name="randomizationlist",
            name="seed",
            field=models.CharField(blank=True, default="", max_length=8),
        ),
        migrations.AddField(
            model_name="randomizationlist",
            name="salt",
            field=models.CharField(blank=True, default="", max_length=128),
        ),
        migrations.AddField(
            model_name="trial",
            name="minimization_secret",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.RunPython(draw_secrets, migrations.RunPython.noop),
        migrations.RemoveField(model_name="trial", name="minimization_seed"),
    ]
