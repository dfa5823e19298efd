"""Demo data for a fresh local system: people, topics, subscribers and a draft campaign.

Only for the embedded default (`make run`): the passwords are development passwords
and printed on start. Runs once: a database that has any user is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import save_campaign
from replies.models import StaffProfile, Team
from subscribers.importing import Row, import_rows
from subscribers.models import Topic

DEMO_PASSWORD = "rundbrief-demo"
DEMO_CONSENT_NOTE = "demo data (manage.py seed_demo)"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    first_name: str
    last_name: str
    role: str
    groups: tuple[str, ...]
    password: str = DEMO_PASSWORD
    is_superuser: bool = False


DEMO_ACCOUNTS = (
    DemoAccount("marketer", "Mara", "Keller", "marketer", ("Marketers",)),
    DemoAccount("anna", "Anna", "Berger", "staff", ("Staff",)),
    DemoAccount("ben", "Ben", "Schulz", "staff", ("Staff",)),
    DemoAccount("manager", "Clara", "Vogel", "manager", ("Staff", "Managers")),
    DemoAccount("admin", "Ada", "Admin", "admin", (), is_superuser=True),
)

# slug, name, description, owner username
DEMO_TOPICS = (
    ("news", "News", "What is new at Rundbrief, about once a month.", "anna"),
    ("events", "Events", "Invitations to talks, workshops and meet-ups.", "ben"),
    ("product-updates", "Product updates", "Changes to the product, in short.", "anna"),
)

# email, name, language, topic slugs
DEMO_SUBSCRIBERS = (
    ("lena.fischer@example.org", "Lena Fischer", "de", ("news", "events")),
    ("tom.meyer@example.org", "Tom Meyer", "de", ("news",)),
    ("sara.jones@example.com", "Sara Jones", "en", ("news", "product-updates")),
    ("jonas.wolf@example.net", "Jonas Wolf", "de", ("events",)),
    ("maria.rossi@example.com", "", "en", ("news", "events", "product-updates")),
)

DEMO_MJML = """<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text font-size="22px" font-weight="bold">Hello {{ subscriber.name|default:"there" }},</mj-text>
        <mj-text>This is the demo issue of our newsletter. Just press reply: a named person
          from our team reads every answer and writes back.</mj-text>
        <mj-button href="https://example.org/">Read more</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
"""


@dataclass
class SeedResult:
    created: bool
    missing_groups: list[str]


def database_is_empty() -> bool:
    return not get_user_model().objects.exists()


def seed_demo() -> SeedResult:
    """Create the demo data in one transaction, unless the database already has users."""
    if not database_is_empty():
        return SeedResult(created=False, missing_groups=[])
    with transaction.atomic():
        users, missing_groups = _create_people()
        _create_staff_profiles(users)
        topics = _create_topics(users)
        _create_subscribers(topics)
        _create_campaign(users, topics)
    return SeedResult(created=True, missing_groups=sorted(set(missing_groups)))


def _create_people() -> tuple[dict, list[str]]:
    User = get_user_model()
    users = {}
    missing: list[str] = []
    for account in DEMO_ACCOUNTS:
        user = User(
            username=account.username,
            first_name=account.first_name,
            last_name=account.last_name,
            email=f"{account.username}@rundbrief.localhost",
            is_staff=account.is_superuser or account.role == "manager",
            is_superuser=account.is_superuser,
        )
        user.set_password(account.password)
        user.save()
        for group_name in account.groups:
            # The groups and their permissions come from the campaigns and replies migrations.
            group = Group.objects.filter(name=group_name).first()
            if group is None:
                missing.append(group_name)
            else:
                user.groups.add(group)
        users[account.username] = user
    return users, missing


def _create_staff_profiles(users: dict) -> Team:
    team = Team.objects.create(name="Reader dialogue", description="Answers replies to our newsletters.")
    for username, deputy in (("anna", "ben"), ("ben", "anna"), ("manager", None)):
        user = users[username]
        profile = StaffProfile.objects.create(
            user=user,
            display_name=user.get_full_name(),
            signature=f"{user.get_full_name()}\nRundbrief reader dialogue",
            deputy=users[deputy] if deputy else None,
            notify_by_email=False,
        )
        if username != "manager":
            profile.teams.add(team)
    return team


def _create_topics(users: dict) -> dict[str, Topic]:
    return {
        slug: Topic.objects.create(slug=slug, name=name, description=description, owner=users[owner])
        for slug, name, description, owner in DEMO_TOPICS
    }


def _create_subscribers(topics: dict[str, Topic]) -> None:
    """Through the subscribers app's CSV import, as rows with a prior consent (so no opt-in mail)."""
    consent_date = timezone.now()
    for slug, topic in topics.items():
        rows = [
            Row(
                line=line,
                email=email,
                name=name,
                language=language,
                consent_date=consent_date,
                consent_source=DEMO_CONSENT_NOTE,
            )
            for line, (email, name, language, slugs) in enumerate(DEMO_SUBSCRIBERS, start=2)
            if slug in slugs
        ]
        import_rows(rows=rows, topic=topic, source="seed_demo")


def _create_campaign(users: dict, topics: dict[str, Topic]) -> Campaign:
    return save_campaign(
        name="Demo issue",
        topics=[topics["news"]],
        subject="Our demo newsletter",
        preheader="A first issue to try sending, replying and answering.",
        from_name="Rundbrief",
        mjml_body=DEMO_MJML,
        contact=users["anna"],
        user=users["marketer"],
    )
