from django.apps import AppConfig


class MailboxConfig(AppConfig):
    name = "rundbrief.mailbox"
    label = "mailbox"
    verbose_name = "Local mailbox (development)"
