"""A/B test by replies at N subscribers: how even the sample's split is, and what the sample costs.

Creates its own database (rb_abtest_bench), loads N confirmed subscribers of one topic (COPY; 1 %
suppressed, 1 % paused) and a campaign with a 20 % A/B test. Prints:

- the split: A, B and the rest, and A vs B in ten stretches of subscriber ids (old to new
  subscribers), so a bias by sign-up time would show;
- the launch's paging of the audience (selectors.audience_pages, pages of 1,000) without and with
  the sample predicate, and the confirmation's count (selectors.count_sample): medians of 5;
- the decision's count (selectors.ab_counts) over the sample's deliveries with 3 % of them
  answered by a human and 2 % by an auto-reply: median of 5.

    .venv/bin/python bench/abtest_sample.py [--n 100000] [--keep]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import (  # noqa: E402 - the repository root is put on the path first
    ROOT,
    create_database,
    drop_database,
    exit_on_termination,
    load_subscribers,
    migrate,
)

PG = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rb_abtest_bench"


def median_ms(run, repeat: int = 5) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args()
    exit_on_termination()
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "REDIS_URL": "redis://127.0.0.1:6379/8",
        "SECRET_KEY": "bench",
        "WEBHOOK_SECRET": "bench:bench",
        "STATIC_PLAIN": "true",
        "DJANGO_SETTINGS_MODULE": "rundbrief.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    create_database(PG, DATABASE)
    try:
        migrate(env)
        os.chdir(ROOT)
        import django

        django.setup()
        from django.contrib.auth.models import User

        from campaigns import abtest
        from campaigns.models import Delivery
        from campaigns.selectors import ab_counts, audience_pages, count_audience, count_sample
        from campaigns.services import save_campaign
        from replies.models import Conversation, InboundMessage, Message
        from rundbrief.mail.addresses import new_token
        from rundbrief.mail.headers import new_message_id
        from subscribers.models import Topic

        owner = User.objects.create_user("bench-owner", first_name="Bench", last_name="Owner")
        topic = Topic.objects.create(slug="news", name="News", owner=owner)
        started = time.monotonic()
        load_subscribers(args.n, topic.pk)
        print(f"loaded {args.n:,} subscribers in {time.monotonic() - started:.0f} s")
        campaign = save_campaign(
            name="Bench",
            topics=[topic],
            subject="Bench",
            mjml_body="<mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section>",
        )
        test = abtest.save_ab_test(
            campaign=campaign,
            enabled=True,
            kind="subject",
            sample_percent=20,
            wait_hours=24,
            variants={campaign.default_language: {"subject": "Bench B"}},
        )
        sample = abtest.sample_of(test)
        recipients = count_audience(campaign).recipients

        def page(with_sample: bool) -> list[int]:
            chosen = sample if with_sample else None
            return [sid for p in audience_pages(campaign, page_size=1000, sample=chosen) for sid, _h in p]

        sampled = page(True)
        split = Counter(sample.variant(sid) for sid in sampled)
        print(
            f"audience {recipients:,}: A {split['a']:,}, B {split['b']:,} "
            f"(B/A {split['b'] / split['a']:.4f}), rest {recipients - len(sampled):,}"
        )
        everyone = page(False)
        step = len(everyone) // 10
        stretches = []
        for index in range(10):
            part = Counter(sample.variant(sid) for sid in everyone[index * step : (index + 1) * step])
            stretches.append(f"{part['a']}/{part['b']}")
        print(f"A/B in ten stretches of ids, old to new: {' '.join(stretches)}")

        plain = median_ms(lambda: page(False))
        narrowed = median_ms(lambda: page(True))
        counted = median_ms(lambda: count_sample(campaign, sample, recipients=recipients))
        print(f"audience paging, everyone:        {plain:8.1f} ms")
        print(f"audience paging, the 20 % sample: {narrowed:8.1f} ms  (ratio {narrowed / plain:.2f})")
        print(f"confirmation count of the sample: {counted:8.1f} ms")

        deliveries = Delivery.objects.bulk_create(
            [
                Delivery(
                    campaign=campaign,
                    subscriber_id=sid,
                    status=Delivery.Status.SENT,
                    reply_token=new_token(),
                    message_id=new_message_id(),
                    variant=sample.variant(sid),
                )
                for sid in sampled
            ],
            batch_size=5000,
        )
        answered = [d for i, d in enumerate(deliveries) if i % 100 < 5]
        conversations = Conversation.objects.bulk_create(
            [Conversation(subscriber_id=d.subscriber_id, campaign=campaign) for d in answered],
            batch_size=5000,
        )
        Message.objects.bulk_create(
            [
                Message(
                    conversation=conversation,
                    delivery=d,
                    direction=Message.Direction.INBOUND,
                    kind=InboundMessage.Kind.HUMAN if i % 5 < 3 else InboundMessage.Kind.AUTO_REPLY,
                )
                for i, (d, conversation) in enumerate(zip(answered, conversations, strict=True))
            ],
            batch_size=5000,
        )
        counts = ab_counts(campaign)
        decided = median_ms(lambda: ab_counts(campaign))
        print(
            f"decision count over {len(deliveries):,} deliveries: {decided:8.1f} ms  "
            f"(A {counts.repliers_a} of {counts.delivered_a}, B {counts.repliers_b} of {counts.delivered_b})"
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(PG, DATABASE)


if __name__ == "__main__":
    main()
