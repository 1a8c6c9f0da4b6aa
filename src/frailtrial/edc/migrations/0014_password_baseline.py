"""Password hashes are audited from now on (``services.passwords``): the accounts of a store
made before get their current hash audited once, so they can still log in and the integrity
check has a value to compare with. A new store has no account yet: nothing to do."""

from typing import Any

from django.db import migrations


def audit_existing_hashes(apps: Any, schema_editor: Any) -> None:
    from frailtrial.edc.services import passwords

    user = apps.get_model("auth", "User")
    accounts = list(user.objects.order_by("pk").values_list("pk", "password"))
    if accounts:
        passwords.baseline(accounts)


class Migration(migrations.Migration):
    dependencies = [
        ("edc", "0013_account_language"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(audit_existing_hashes, migrations.RunPython.noop)]
