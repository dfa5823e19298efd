from django.apps import AppConfig


class RundbriefConfig(AppConfig):
    """The project package as an app: its system checks (rundbrief/checks.py)."""

    name = "rundbrief"
    verbose_name = "Rundbrief"

    def ready(self) -> None:
        from rundbrief import checks  # noqa: F401 - registers the checks (an app's ready() is their place)
