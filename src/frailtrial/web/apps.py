"""Django app configuration of the web EDC."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "frailtrial.web"
    label = "web"
    verbose_name = "frailtrial web EDC"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """A user's changed password revokes their API tokens, whichever path changed it."""
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        from frailtrial.web.security import revoke_on_password_change

        pre_save.connect(
            revoke_on_password_change, sender=get_user_model(), dispatch_uid="revoke-tokens"
        )
