"""The Django peer of bench/compare_send.py: django-newsletter sends one newsletter to smtp-sink.

Not run in Rundbrief's virtualenv: compare_send.py copies this file into a throwaway one with
django-newsletter and psycopg installed, and runs it there. It is the whole Django project
(settings.configure, its own URLconf), so nothing of Rundbrief is imported.

    python peer_newsletter.py seed --subscribers 3000 --size 10490   # migrate, newsletter, subscribers
    python peer_newsletter.py submit                                  # one Submission, timed

Environment: PEER_DATABASE (a PostgreSQL database on 127.0.0.1:5432, user postgres) and
PEER_SMTP_PORT (the sink on 127.0.0.1). Each command prints one JSON object.

``submit`` times ``Submission.submit()`` as django-newsletter's own ``submit_newsletter``
command calls it: a loop over the subscriptions, each mail rendered from the templates
(two queries for the articles, one for attachments) and sent through Django's SMTP
EmailBackend, which opens a connection per mail (no connection is passed). It returns
after the last mail's 250, so its duration is "submit to the last mail accepted".
Errors are only logged by django-newsletter; they are counted here from its log.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="peer-bench-secret",
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=[
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django.contrib.sites",
        "sorl.thumbnail",  # django-newsletter's default thumbnailer (its image field needs one)
        "newsletter",
    ],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["PEER_DATABASE"],
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "USER": "postgres",
        }
    },
    SITE_ID=1,
    ROOT_URLCONF=__name__,
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST="127.0.0.1",
    EMAIL_PORT=int(os.environ["PEER_SMTP_PORT"]),
    DEFAULT_FROM_EMAIL="newsletter@localhost",
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    STATIC_URL="/static/",
    MEDIA_URL="/media/",
    NEWSLETTER_THUMBNAIL="sorl-thumbnail",
    NEWSLETTER_USE_HTTPS=True,
)
django.setup()

from django.db import connection  # noqa: E402 - after settings.configure and setup
from django.urls import include, path  # noqa: E402

urlpatterns = [path("newsletter/", include("newsletter.urls"))]

ARTICLE = (
    "Dies ist ein Absatz einer typischen Ausgabe, damit die Nachricht eine realistische Größe "
    "hat. Wir berichten über Neuigkeiten aus dem Projekt, über Termine und über das, was unsere "
    "Leserinnen und Leser uns geschrieben haben. „Danke für die ausführliche Antwort!“ – so oder "
    "ähnlich schreiben uns viele; das freut uns, und wir antworten gern."
)


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.first = self.first or record.getMessage()


def cpu_seconds(pid: int) -> float:
    """CPU time of a process (all threads) from /proc/PID/task/*/schedstat, in seconds."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        total += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
    return total / 1e9


def mail_size(submission, subscription) -> int:
    return len(submission.get_message(subscription).message().as_bytes(linesep="\r\n"))


def seed(subscribers: int, size: int) -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from newsletter.models import Article, Message, Newsletter, Submission, Subscription

    newsletter = Newsletter.objects.create(
        title="Der Rundbrief", slug="rundbrief", email="newsletter@localhost", sender="Rundbrief"
    )
    Subscription.objects.bulk_create(
        [
            Subscription(
                newsletter=newsletter,
                name_field=f"Peer {i}",
                email_field=f"peer{i:05d}@example.org",
                subscribed=True,
            )
            for i in range(subscribers)
        ],
        batch_size=1000,
    )
    message = Message.objects.create(title="Der Rundbrief im Herbst", slug="herbst", newsletter=newsletter)
    probe = Submission.from_message(message)
    subscription = Subscription.objects.order_by("pk").first()
    # Articles until the built mail (text and HTML alternative) is as big as Rundbrief's; the
    # last one cut to the length that comes closest.
    number = 0
    while mail_size(probe, subscription) < size:
        number += 1
        last = Article.objects.create(post=message, title=f"Abschnitt {number}", text=ARTICLE)
    if number:
        shortest, longest = 0, len(ARTICLE)
        while shortest < longest:
            middle = (shortest + longest) // 2
            last.text = ARTICLE[:middle]
            last.save()
            if mail_size(probe, subscription) < size:
                shortest = middle + 1
            else:
                longest = middle
        last.text = ARTICLE[:shortest]
        last.save()
    built = mail_size(probe, subscription)
    probe.delete()
    return {
        "django_newsletter": version("django-newsletter"),
        "django": version("django"),
        "subscribers": subscribers,
        "articles": number,
        "size": built,
    }


def submit() -> dict:
    from newsletter.models import Message, Submission

    errors = ErrorCounter()
    logging.getLogger("newsletter").addHandler(errors)
    submission = Submission.from_message(Message.objects.get(slug="herbst"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    mails = submission.subscriptions.filter(subscribed=True).count()
    own_before, backend_before = time.process_time(), cpu_seconds(backend)
    started = time.perf_counter()
    submission.submit()
    seconds = time.perf_counter() - started
    own, backend_cpu = time.process_time() - own_before, cpu_seconds(backend) - backend_before
    return {
        "mails": mails,
        "failed": errors.count,
        "first_error": errors.first,
        "seconds": seconds,
        "cpu_peer": own,
        "cpu_postgres": backend_cpu,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["seed", "submit"])
    parser.add_argument("--subscribers", type=int, default=3000)
    parser.add_argument("--size", type=int, default=10_240, help="bytes of the built mail to reach")
    args = parser.parse_args()
    result = seed(args.subscribers, args.size) if args.command == "seed" else submit()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
