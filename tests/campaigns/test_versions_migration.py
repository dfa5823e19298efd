"""Migration campaigns 0014: an existing campaign keeps its content as its default-language version,
and every subscriber gets the mail they got before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from campaigns.messages import Recipient, build_factory
from campaigns.models import Campaign

BEFORE = [("campaigns", "0013_campaign_images")]
AFTER = [("campaigns", "0014_campaign_versions")]


@pytest.mark.django_db(transaction=True)
def test_existing_campaigns_become_their_default_language_version(settings):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("campaigns", "Campaign")
    row = old.objects.create(
        name="Old issue",
        subject="Hello {{ subscriber.name }}",
        preheader="Before versions",
        from_name="Rundbrief",
        mjml_body="<mj-section><mj-column><mj-text>Old body</mj-text></mj-column></mj-section>",
        text_body="Old text",
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    campaign = Campaign.objects.get(pk=row.pk)
    assert campaign.default_language == settings.LANGUAGE_CODE
    assert (campaign.subject, campaign.preheader, campaign.mjml_body, campaign.text_body) == (
        "Hello {{ subscriber.name }}",
        "Before versions",
        "<mj-section><mj-column><mj-text>Old body</mj-text></mj-column></mj-section>",
        "Old text",
    )
    assert not campaign.versions.exists()
    factory = build_factory(campaign)
    for language in ("de", "en"):
        mail = factory.build(
            Recipient(
                delivery_id=0,
                message_id="<m@example.org>",
                reply_token="t",
                subscriber_id=1,
                email="a@example.org",
                name="Ada",
                language=language,
                text_only=False,
            )
        )
        assert mail.subject == "Hello Ada" and mail.text.startswith("Old text")
