"""The inbox search (/inbox/search/) and keyset pagination of every queue: what is found, in
German and English forms, with filters, only among what the person may see; pages without caps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from replies import search
from replies.models import Conversation, ConversationEvent, Message, Tag, Team
from replies.pagination import PAGE_SIZE
from tests.replies.conftest import (
    ANNA_TOKEN,
    BEN_TOKEN,
    ingest,
    make_staff,
    make_subscriber,
    simple_reply_bytes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(world):
    ingest("gmail_reply_en.eml")  # "Re: Our November newsletter", about a heat pump subsidy
    return Conversation.objects.get()


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def found(client, **params) -> list[int]:
    response = client.get(reverse("replies:search"), params)
    assert response.status_code == 200
    return [c.pk for c in response.context["conversations"]]


def test_finds_by_text_subject_address_name_note_tag_and_campaign(world, reply):
    client = as_user(world.anna_staff)
    assert found(client, q="subsidy") == [reply.pk]  # a word from the reply
    assert found(client, q="November newsletter") == [reply.pk]  # the subject
    assert found(client, q="anna@example.org") == [reply.pk]  # the address
    assert found(client, q="Beispiel") == [reply.pk]  # the name
    assert found(client, q="Dear reader") == [reply.pk]  # the full text (the quoted part)
    ConversationEvent.objects.create(
        conversation=reply, kind="note", actor=world.anna_staff, text="Rückruf am Montag"
    )
    assert found(client, q="Rückruf") == [reply.pk]
    reply.tags.add(Tag.objects.create(name="Förderung"))
    assert found(client, q="förderung") == [reply.pk]
    assert found(client, q="November") == [reply.pk]  # the campaign's name
    assert found(client, q="parking garage") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_german_and_english_word_forms(world):
    ingest(simple_reply_bytes(subject="Frage", body="Unsere Heizungen sind kaputt, die Wärmepumpen auch."))
    conversation = Conversation.objects.get()
    client = as_user(world.anna_staff)
    assert found(client, q="Heizung") == [conversation.pk]
    assert found(client, q="wärmepumpe") == [conversation.pk]
    ingest(
        simple_reply_bytes(subject="Question", body="Both of our heat pumps stopped working.")
        .replace(b"anna@example.org", b"ben@example.com")
        .replace(ANNA_TOKEN.encode(), BEN_TOKEN.encode())
    )
    english = Conversation.objects.exclude(pk=conversation.pk).get()
    assert found(client, q="pump") == [english.pk]
    assert found(client, q='"heat pumps"') == [english.pk]
    assert found(client, q="pump -stopped") == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_the_search_uses_the_gin_indexes(world, reply):
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        for expression, table, query in [
            ("search_vector", "replies_message", search.QUERY),
            (search.vector(search.NOTE_DOCUMENT), "replies_conversationevent", search.QUERY),
            (search.vector(search.CONVERSATION_DOCUMENT), "replies_conversation", search.QUERY),
            (search.NAME_VECTOR, "subscribers_subscriber", search.NAME_QUERY),
        ]:
            where = " AND kind = 'note'" if table == "replies_conversationevent" else ""
            cursor.execute(
                f"EXPLAIN SELECT id FROM {table} WHERE {expression} @@ {query}{where}",
                ["pump", "pump"][: query.count("%s")],
            )
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "_search_idx" in plan, plan
        # The stored vector is the migration's expression (a message written now is found).
        stored = search.vector(search.MESSAGE_DOCUMENT)
        cursor.execute(f"SELECT count(*) FROM replies_message WHERE search_vector = {stored}")
        assert cursor.fetchone()[0] == Message.objects.count() > 0
        cursor.execute("SET enable_seqscan = on")


def test_filters_narrow_and_work_alone(world, reply):
    client = as_user(world.anna_staff)
    assert found(client, q="subsidy", status="closed") == []
    assert found(client, q="subsidy", status="open") == [reply.pk]
    assert found(client, status="open") == [reply.pk]  # a filter alone is a search
    assert found(client, assignee=str(world.anna_staff.pk)) == [reply.pk]
    assert found(client, assignee="none") == []
    tag = Tag.objects.create(name="Förderung")
    assert found(client, tag=tag.pk) == []
    reply.tags.add(tag)
    assert found(client, tag=tag.pk) == [reply.pk]
    assert found(client, campaign=world.campaign.pk) == [reply.pk]
    team = Team.objects.create(name="Redaktion")
    assert found(client, team=team.pk) == []
    today = timezone.localdate()
    assert found(client, date_from=today.isoformat(), date_to=today.isoformat()) == [reply.pk]
    assert found(client, date_to=(today - timedelta(days=1)).isoformat()) == []
    assert client.get(reverse("replies:search")).context["page"] is None  # nothing asked: nothing listed


def test_search_shows_only_what_the_person_may_see(world, reply):
    olga = make_staff("olga")
    assert found(as_user(olga), q="subsidy") == []
    Conversation.objects.filter(pk=reply.pk).update(assignee=None)
    assert found(as_user(olga), q="subsidy") == [reply.pk]  # unassigned
    Conversation.objects.filter(pk=reply.pk).update(assignee=world.topic_owner)
    team = Team.objects.create(name="Redaktion")
    olga.staff_profile.teams.add(team)
    Conversation.objects.filter(pk=reply.pk).update(team=team)
    assert found(as_user(olga), q="subsidy") == [reply.pk]  # her team's
    assert found(as_user(make_staff("mona", group="Managers")), q="subsidy") == [reply.pk]
    marketer = User.objects.create_user("mara")
    marketer.user_permissions.add(Permission.objects.get(codename="change_campaign"))
    assert as_user(marketer).get(reverse("replies:search"), {"q": "subsidy"}).status_code == 403


def _many_conversations(world, count: int) -> list[Conversation]:
    now = timezone.now()
    subscriber = make_subscriber("many@example.org", "Many Writes")
    conversations = Conversation.objects.bulk_create(
        Conversation(
            subscriber=subscriber,
            subject=f"Frage {n}",
            assignee=world.anna_staff,
            waiting_since=now - timedelta(minutes=count - n) if n % 7 else None,
            last_message_at=now - timedelta(minutes=n),
            status="closed" if n % 2 else "open",
        )
        for n in range(count)
    )
    Message.objects.bulk_create(
        Message(conversation=c, direction="in", kind="human", text=f"Heizung Nummer {c.subject}")
        for c in conversations
    )
    return conversations


@pytest.mark.parametrize("queue", ["mine", "closed"])
def test_every_queue_is_keyset_paged_with_counts_and_no_cap(world, queue):
    conversations = _many_conversations(world, 2 * PAGE_SIZE + 30)
    expected = sum(1 for c in conversations if (c.status == "closed") == (queue == "closed"))
    client = as_user(world.anna_staff)
    seen: list[int] = []
    params = {"queue": queue}
    while True:
        response = client.get(reverse("replies:inbox"), params)
        assert response.context["page"].total == expected
        assert f"of {expected} shown" in response.content.decode()
        seen += [c.pk for c in response.context["conversations"]]
        if not response.context["page"].next_cursor:
            break
        params = {"queue": queue, "after": response.context["page"].next_cursor}
    assert len(seen) == len(set(seen)) == expected  # every one once, none lost between pages
    ordered = Conversation.objects.filter(pk__in=seen)
    if queue == "closed":
        times = [c.last_message_at for c in sorted(ordered, key=lambda c: seen.index(c.pk))]
        assert times == sorted(times, reverse=True)
    else:
        waiting = [c.waiting_since for c in sorted(ordered, key=lambda c: seen.index(c.pk))]
        present = [w for w in waiting if w is not None]
        assert present == sorted(present) and waiting[: len(present)] == present  # answered ones last


def test_search_results_are_paged_too(world):
    conversations = _many_conversations(world, PAGE_SIZE + 5)
    client = as_user(world.anna_staff)
    first = client.get(reverse("replies:search"), {"q": "Heizung"})
    assert first.context["page"].total == len(conversations)
    second = client.get(
        reverse("replies:search"), {"q": "Heizung", "after": first.context["page"].next_cursor}
    )
    ids = [c.pk for c in first.context["conversations"]] + [c.pk for c in second.context["conversations"]]
    assert sorted(ids) == sorted(c.pk for c in conversations)


def test_the_queue_updates_without_reload(world, reply):
    client = as_user(world.anna_staff)
    url = reverse("replies:queue_live") + "?queue=mine"
    first = client.get(url)
    assert first.status_code == 200 and b"Our November newsletter" in first.content
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    ingest(
        simple_reply_bytes(subject="A second question", body="And another thing")
        .replace(b"anna@example.org", b"ben@example.com")
        .replace(ANNA_TOKEN.encode(), BEN_TOKEN.encode())
    )
    changed = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and b"A second question" in changed.content
    marketer = User.objects.create_user("mara")
    assert as_user(marketer).get(url).status_code == 403


def test_the_search_box_is_on_every_inbox_page(world, reply):
    client = as_user(world.anna_staff)
    for url in [
        reverse("replies:inbox"),
        reverse("replies:conversation", args=[reply.pk]),
        reverse("replies:search"),
        reverse("replies:inbound_list"),
    ]:
        assert b'id="id_inbox_search"' in client.get(url).content, url


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the broad path is PostgreSQL's")
@pytest.mark.parametrize("probe_limit", [20, 10_000], ids=["conversation by conversation", "from the probe"])
def test_a_search_matching_very_many_pages_newest_first_without_counting(
    world, settings, monkeypatch, probe_limit
):
    conversations = _many_conversations(world, PAGE_SIZE + 10)
    monkeypatch.setattr(search, "BROAD_MATCHES", 20)  # "many" from 20 hits on
    monkeypatch.setattr(search, "PROBE_LIMIT", probe_limit)  # the broad way beyond it
    client = as_user(world.anna_staff)
    first = client.get(reverse("replies:search"), {"q": "Heizung"})
    assert first.context["page"].total is None
    assert "shown of many matches" in first.content.decode()
    second = client.get(
        reverse("replies:search"), {"q": "Heizung", "after": first.context["page"].next_cursor}
    )
    ids = [c.pk for c in first.context["conversations"]] + [c.pk for c in second.context["conversations"]]
    assert sorted(ids) == sorted(c.pk for c in conversations)  # every match reachable, none twice
    times = [c.last_message_at for c in first.context["conversations"]]
    assert times == sorted(times, reverse=True)
    # The same words with a filter and for someone who sees less go the same way.
    olga = make_staff("olga")
    assert found(as_user(olga), q="Heizung") == []
    assert len(found(client, q="Heizung", status="open")) == sum(
        1 for c in conversations if c.status == "open"
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the broad path is PostgreSQL's")
def test_words_postgresql_expects_very_often_go_the_broad_way_without_probing(world, monkeypatch):
    conversations = _many_conversations(world, PAGE_SIZE + 10)
    ConversationEvent.objects.create(conversation=conversations[3], kind="note", text="Rückruf Heizung")
    monkeypatch.setattr(search, "SURELY_BROAD", -1)  # every estimate counts as very many
    monkeypatch.setattr(search, "_probe", lambda *args: pytest.fail("probed"))
    client = as_user(world.anna_staff)
    first = client.get(reverse("replies:search"), {"q": "Heizung"})
    assert first.context["page"].total is None  # "many": not counted
    second = client.get(
        reverse("replies:search"), {"q": "Heizung", "after": first.context["page"].next_cursor}
    )
    ids = [c.pk for c in first.context["conversations"]] + [c.pk for c in second.context["conversations"]]
    assert sorted(ids) == sorted(c.pk for c in conversations)
    # Notes and the conversation's own subject are found the broad way too.
    assert found(client, q="Rückruf") == [conversations[3].pk]
    assert found(client, q='"Frage 7"') == [conversations[7].pk]
    monkeypatch.setattr(search, "BROAD_MATCHES", -1)  # many subjects expected: checked per row
    assert found(client, q='"Frage 7"') == [conversations[7].pk]
    assert found(client, q="Rückruf") == [conversations[3].pk]


def test_a_tag_on_very_many_conversations_is_paged_but_not_counted(world, monkeypatch):
    conversations = _many_conversations(world, 30)
    vip = Tag.objects.create(name="vip")
    vip.conversations.set(conversations[:25])
    client = as_user(world.anna_staff)
    page = client.get(reverse("replies:search"), {"tag": vip.pk}).context["page"]
    assert page.total == 25
    monkeypatch.setattr(search, "BROAD_MATCHES", 20)
    response = client.get(reverse("replies:search"), {"tag": vip.pk})
    assert response.context["page"].total is None
    assert {c.pk for c in response.context["conversations"]} == {c.pk for c in conversations[:25]}
    # The page's rows come with what the list shows (no query per row).
    assert all(c.subscriber.email == "many@example.org" for c in response.context["conversations"])
