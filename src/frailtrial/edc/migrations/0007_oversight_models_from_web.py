"""Data queries and SDV marks become the EDC's models (their services are in
``edc/services/oversight.py``), so a store without the web app has them too. The tables keep
their names ``web_dataquery`` and ``web_sdvmark``: a store whose web app made them before
(web 0001 did then) keeps them and their rows; any other store gets them created here."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

TABLES = {"DataQuery": "web_dataquery", "SdvMark": "web_sdvmark"}


def _create_missing(apps: Any, schema_editor: Any) -> None:
    """Create each table unless the web app's first migration made it already."""
    existing = set(schema_editor.connection.introspection.table_names())
    for name, table in TABLES.items():
        if table not in existing:
            schema_editor.create_model(apps.get_model("edc", name))


class Migration(migrations.Migration):
    dependencies = [
        ("edc", "0006_web_entry_versions_notices"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="DataQuery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("model", models.CharField(max_length=64)),
                        ("object_id", models.CharField(max_length=64)),
                        ("field", models.CharField(max_length=80)),
                        ("text", models.TextField()),
                        ("status", models.CharField(default="open", max_length=16)),
                        ("raised_at", models.DateTimeField()),
                        ("answer", models.TextField(blank=True, default="")),
                        ("answered_at", models.DateTimeField(blank=True, null=True)),
                        ("closed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "answered_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="edc.membership",
                            ),
                        ),
                        (
                            "participant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="queries",
                                to="edc.participant",
                            ),
                        ),
                        (
                            "raised_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="edc.membership",
                            ),
                        ),
                        (
                            "trial",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="queries",
                                to="edc.trial",
                            ),
                        ),
                    ],
                    options={"db_table": "web_dataquery"},
                ),
                migrations.CreateModel(
                    name="SdvMark",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("crf_id", models.BigIntegerField()),
                        ("crf_version", models.IntegerField()),
                        ("at", models.DateTimeField()),
                        (
                            "by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="edc.membership",
                            ),
                        ),
                        (
                            "participant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="sdv",
                                to="edc.participant",
                            ),
                        ),
                        (
                            "trial",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="edc.trial",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "web_sdvmark",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("crf_id", "crf_version"), name="sdv_unique"
                            )
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(_create_missing, migrations.RunPython.noop),
    ]
