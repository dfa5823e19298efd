"""Who has a conversation open, and who is typing in it: short-lived marks in the cache (Redis).

Each open conversation page sends a heartbeat every few seconds (static/js/inbox.js, through
views.conversation_live). A heartbeat writes one key per person and conversation that expires
after PRESENCE_SECONDS, so a closed tab disappears by itself, without a "leave" message that
might never come; "typing" is a time in that key and lapses after TYPING_SECONDS. An index
key per conversation lists whose keys to read; an entry whose key has expired is simply not
found. The index is read-modify-write: two people opening the same conversation in the same
instant may drop one of them from it for one heartbeat (the next heartbeat adds them back).

The cache is Redis in production and in the tests (settings.CACHES); without Redis (`make run`
on a bare machine) it is the database cache, which works the same, only slower.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache

PRESENCE_SECONDS = 15  # three missed heartbeats (static/js/inbox.js sends one every 4 s)
TYPING_SECONDS = 6


@dataclass(frozen=True)
class Presence:
    user_id: int
    name: str
    typing: bool


def _index_key(conversation_id: int) -> str:
    return f"inbox:presence:{conversation_id}"


def _key(conversation_id: int, user_id: int) -> str:
    return f"inbox:presence:{conversation_id}:{user_id}"


def touch(*, conversation_id: int, user_id: int, name: str, typing: bool) -> None:
    """This person has the conversation open now (and is typing an answer, or not)."""
    now = time.time()
    previous = cache.get(_key(conversation_id, user_id)) or {}
    typing_until = now + TYPING_SECONDS if typing else min(previous.get("typing_until", 0), now)
    cache.set(_key(conversation_id, user_id), {"name": name, "typing_until": typing_until}, PRESENCE_SECONDS)
    index = set(cache.get(_index_key(conversation_id)) or ())
    if user_id not in index:
        index.add(user_id)
        cache.set(_index_key(conversation_id), sorted(index), PRESENCE_SECONDS * 4)
    else:
        cache.touch(_index_key(conversation_id), PRESENCE_SECONDS * 4)


def leave(*, conversation_id: int, user_id: int) -> None:
    cache.delete(_key(conversation_id, user_id))


def present(conversation_id: int, *, exclude_user_id: int | None = None) -> list[Presence]:
    """Everybody with the conversation open now, by name (one person with two tabs: once)."""
    index = cache.get(_index_key(conversation_id)) or []
    keys = {_key(conversation_id, user_id): user_id for user_id in index if user_id != exclude_user_id}
    found = cache.get_many(list(keys))
    now = time.time()
    people = [
        Presence(user_id=keys[key], name=value["name"], typing=value.get("typing_until", 0) > now)
        for key, value in found.items()
    ]
    return sorted(people, key=lambda person: person.name)
