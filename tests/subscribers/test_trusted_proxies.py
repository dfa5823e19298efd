"""Behind a reverse proxy, the per-IP signup limit and the consent proof see the visitor, not the proxy."""

from __future__ import annotations

import pytest
from django.test import override_settings

from subscribers.models import ConsentEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

PROXY = "10.0.0.2"


def signup(client, topics, consent, email, visitor, forged=""):
    chain = f"{forged}, {visitor}" if forged else visitor
    return client.post(
        "/subscribe/",
        {
            "email": email,
            "name": "",
            "language": "en",
            "topics": [topics["news"].pk],
            "consent_version": consent.version,
            "website": "",
        },
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=chain,
    )


@override_settings(SUBSCRIBE_RATE_LIMIT="2/m")
def test_without_the_setting_every_visitor_is_the_proxy(client, topics, consent):
    """The bug: behind nginx, two visitors used up everyone's budget, and the proof says 10.0.0.2."""
    codes = [
        signup(client, topics, consent, f"v{i}@example.org", f"203.0.113.{i}").status_code for i in range(3)
    ]
    assert codes == [302, 302, 429]
    assert set(ConsentEvent.objects.values_list("ip_address", flat=True)) == {PROXY}


@override_settings(SUBSCRIBE_RATE_LIMIT="2/m", TRUSTED_PROXY_HOPS=1)
def test_with_one_trusted_hop_the_limit_and_the_proof_see_the_visitor(client, topics, consent):
    codes = [
        signup(client, topics, consent, f"v{i}@example.org", f"203.0.113.{i}").status_code for i in range(3)
    ]
    assert codes == [302, 302, 302]
    assert sorted(ConsentEvent.objects.values_list("ip_address", flat=True)) == [
        "203.0.113.0",
        "203.0.113.1",
        "203.0.113.2",
    ]
    # One visitor forging X-Forwarded-For still hits its own limit: the proxy's entry counts.
    codes = [
        signup(
            client, topics, consent, f"f{i}@example.org", "198.51.100.9", forged=f"192.0.2.{i}"
        ).status_code
        for i in range(3)
    ]
    assert codes == [302, 302, 429]
    assert ConsentEvent.objects.filter(ip_address="198.51.100.9").count() == 2


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_trusted_addresses_work_for_the_api_too(client, topics, consent):
    response = client.post(
        "/api/subscribe",
        {"email": "api@example.org", "topics": ["news"]},
        content_type="application/json",
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.77, 10.3.3.3",
    )
    assert response.status_code == 202
    assert ConsentEvent.objects.get().ip_address == "203.0.113.77"
