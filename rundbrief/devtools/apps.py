from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    name = "rundbrief.devtools"
    label = "devtools"
    verbose_name = "Development tools (make run, demo data)"
