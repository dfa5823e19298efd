"""What picking a campaign's version per recipient costs: CampaignMessages.build vs MessageFactory.build.

    .venv/bin/python bench/versions_dispatch.py [--n 3000] [--rounds 7]

Its own database (rb_versions_bench) with one campaign in English and German (bench/campaign.mjml,
the German version the same body with its texts marked), no socket, no worker: only the per-mail
build. Prints the median µs per mail of each, for German and English recipients in turn (one
language active at a time, as the send loop does), and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import create_database, drop_database, migrate  # noqa: E402

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = "rb_versions_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000, help="mails per round and language")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "SECRET_KEY": "bench",
        "WEBHOOK_SECRET": "bench:bench",
        "REDIS_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/1"),
        "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
    }
    create_database(PG, DATABASE)
    try:
        migrate(env)
        os.environ.update(env)
        run(args.n, args.rounds)
    finally:
        drop_database(PG, DATABASE)


def run(n: int, rounds: int) -> None:
    # Imported here: Django is set up only once the benchmark's database exists and is migrated.
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.utils import translation

    from campaigns.messages import Recipient, build_factory
    from campaigns.services import save_campaign
    from subscribers.models import Topic

    body = (ROOT / "bench" / "campaign.mjml").read_text(encoding="utf-8")
    owner = User.objects.create_user("bench", first_name="Bench")
    topic = Topic.objects.create(slug="bench", name="Bench", owner=owner)
    campaign = save_campaign(
        name="Bench",
        topics=[topic],
        subject="Bench {{ subscriber.name }}",
        mjml_body=body,
        from_name="Rundbrief",
        default_language="en",
        versions={
            "de": {
                "subject": "Bench DE {{ subscriber.name }}",
                "mjml_body": body.replace("<mj-text>", "<mj-text>DE "),
            }
        },
    )
    messages = build_factory(campaign)

    def recipient(i: int, language: str) -> Recipient:
        return Recipient(
            delivery_id=i,
            message_id=f"<{i}@bench>",
            reply_token=f"t{i}",
            subscriber_id=i + 1,
            email=f"r{i}@example.org",
            name=f"Reader {i}",
            language=language,
            text_only=False,
        )

    results: dict[tuple[str, str], list[float]] = {}
    for language in ("de", "en"):
        recipients = [recipient(i, language) for i in range(n)]
        direct = messages.for_language(language)
        with translation.override(language):
            for index in range(rounds):
                pair = [("MessageFactory", direct.build), ("CampaignMessages", messages.build)]
                for name, build in pair if index % 2 else pair[::-1]:  # alternate which goes first
                    start = time.perf_counter()
                    for r in recipients:
                        build(r)
                    results.setdefault((language, name), []).append((time.perf_counter() - start) / n * 1e6)
    print(f"{n} mails x {rounds} rounds per language, median µs per mail")
    for language in ("de", "en"):
        factory = statistics.median(results[(language, "MessageFactory")])
        dispatched = statistics.median(results[(language, "CampaignMessages")])
        print(
            f"  {language}: MessageFactory {factory:7.1f}   CampaignMessages {dispatched:7.1f}"
            f"   ratio {dispatched / factory:.3f}"
        )


if __name__ == "__main__":
    main()
