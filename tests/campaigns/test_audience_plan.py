"""The launch's audience page reads O(page) rows, not O(N): the plan keysets every join.

100,000 subscribers, the first 60,000 already have this campaign's delivery (a launch
two-thirds through). The page after id 60,000 must not read the subscriptions or the
deliveries from their first row (before the keyset on both sides it merge-joined 60,000
of each for every page). Asserted on the plan (rows each node read), never on time.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection

from campaigns.models import Campaign
from campaigns.selectors import audience_page_query

pytestmark = pytest.mark.django_db

SUBSCRIBERS = 100_000
DELIVERED = 60_000
PAGE = 500


def _load(topic, campaign) -> int:
    """Rows in bulk (SQL, like bench/harness.py): the ORM would take a minute for 100,000."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO subscribers_subscriber (email, email_hash, mailbox_hash, name, language, status, "
            "frequency, frequency_limit, format, created_at, updated_at, confirmed_at, attributes) "
            "SELECT 'p' || n || '@example.org', md5('p' || n) || md5(n::text), "
            "md5(n::text) || md5('p' || n), '', 'de', 'confirmed', 'every', 1, 'html', now(), now(), now(), "
            "'{}' "
            "FROM generate_series(1, %s) AS n RETURNING id",
            [SUBSCRIBERS],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
        cursor.execute(
            "INSERT INTO subscribers_subscription (subscriber_id, topic_id, status, created_at, "
            "confirmed_at) SELECT id, %s, 'active', now(), now() FROM subscribers_subscriber",
            [topic.pk],
        )
        cursor.execute(
            "INSERT INTO subscribers_suppression (email_hash, reason, created_at, details) "
            "SELECT email_hash, 'hard_bounce', now(), '{}' FROM subscribers_subscriber WHERE id % 100 = 0"
        )
        after = ids[DELIVERED - 1]
        cursor.execute(
            "INSERT INTO campaigns_delivery (campaign_id, subscriber_id, status, reply_token, message_id, "
            "esp_message_id, attempts, error, soft_bounces, created_at, updated_at) "
            "SELECT %s, id, 'queued', md5(id::text), '<' || md5(id::text) || '@x>', '', 0, '', 0, "
            "now(), now() FROM subscribers_subscriber WHERE id <= %s",
            [campaign.pk, after],
        )
        cursor.execute("ANALYZE subscribers_subscriber, subscribers_subscription, subscribers_suppression")
        cursor.execute("ANALYZE campaigns_delivery")
    return after


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_an_audience_page_reads_rows_of_that_page_only(campaign, topic):
    after = _load(topic, campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    sql, params = audience_page_query(campaign, topic_ids=[topic.pk], after=after, limit=PAGE)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF, FORMAT JSON) " + sql, params)
        [document] = cursor.fetchone()
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]

    assert plan["Actual Rows"] == PAGE
    scans = [node for node in _nodes(plan) if "Relation Name" in node]
    tables = {node["Relation Name"] for node in scans}
    assert {"subscribers_subscriber", "subscribers_subscription", "campaigns_delivery"} <= tables
    for node in scans:
        assert node["Node Type"] != "Seq Scan", node
        # Rows read by the node over all its loops (an index probe per row reads ~1 each):
        # a page's worth, with room for the 2 % excluded, never the 60,000 before it.
        read = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        assert read <= 2 * PAGE, (node["Relation Name"], node["Node Type"], read)
