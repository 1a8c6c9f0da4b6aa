"""Django app configuration of the trial data store."""

from django.apps import AppConfig


class EdcConfig(AppConfig):
    name = "frailtrial.edc"
    label = "edc"
    verbose_name = "frailtrial trial data store"

    def ready(self) -> None:
        """Audit every change of an account's password hash (see ``services.passwords``)."""
        from django.conf import settings
        from django.db.models.signals import post_save

        from frailtrial.edc.services import passwords

        post_save.connect(
            passwords.audit_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="frailtrial-audit-password",
        )
