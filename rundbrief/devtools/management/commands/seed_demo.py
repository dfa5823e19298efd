from django.core.management.base import BaseCommand

from rundbrief.devtools.demo import DEMO_ACCOUNTS, seed_demo


class Command(BaseCommand):
    help = "Add demo data (people, topics, subscribers, a draft campaign) to a database without users."

    def handle(self, *args, **options):
        result = seed_demo()
        if not result.created:
            self.stdout.write("The database already has users: no demo data added.")
            return
        if result.missing_groups:
            self.stderr.write(
                "warning: groups not found (their app migrations are missing): "
                + ", ".join(result.missing_groups)
            )
        self.stdout.write(self.style.SUCCESS("Demo data added. Accounts (development passwords):"))
        for account in DEMO_ACCOUNTS:
            self.stdout.write(f"  {account.role:<10} {account.username:<16} {account.password}")
