"""The IMAP mailbox admin: managers configure mailboxes; the password is kept encrypted, never shown."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from replies.models import ImapMailbox
from rundbrief import secretbox


@pytest.fixture
def manager(db, client):
    user = User.objects.create_user("clara", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Managers"))  # permissions from the migration
    client.force_login(user)
    return user


def _form(**overrides) -> dict:
    data = {
        "name": "Antworten",
        "enabled": "on",
        "host": "imap.example.org",
        "port": "993",
        "security": "ssl",
        "username": "antworten@example.org",
        "password": "geheim-123",
        "folder": "INBOX",
        "processed_folder": "",
        "refused_folder": "Abgelehnt",
        "use_idle": "on",
        "poll_seconds": "60",
        "refusals-TOTAL_FORMS": "0",
        "refusals-INITIAL_FORMS": "0",
        "refusals-MIN_NUM_FORMS": "0",
        "refusals-MAX_NUM_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_a_manager_adds_a_mailbox_and_the_password_is_stored_encrypted(client, manager):
    response = client.post("/admin/replies/imapmailbox/add/", _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    mailbox = ImapMailbox.objects.get()
    assert "geheim-123" not in mailbox.password_encrypted
    assert mailbox.get_password() == "geheim-123"

    page = client.get(f"/admin/replies/imapmailbox/{mailbox.pk}/change/").content.decode()
    assert "geheim-123" not in page and mailbox.password_encrypted not in page

    # Saved again without a password: the old one stays.
    response = client.post(f"/admin/replies/imapmailbox/{mailbox.pk}/change/", _form(password="", port="143"))
    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.port, mailbox.get_password()) == (143, "geheim-123")


def test_a_new_mailbox_needs_a_password_and_target_folders_differ_from_the_read_one(client, manager):
    response = client.post("/admin/replies/imapmailbox/add/", _form(password="", refused_folder="INBOX"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "password" in errors and "refused_folder" in errors
    assert not ImapMailbox.objects.exists()


def test_the_password_survives_a_key_rotation_with_the_old_key_as_fallback(settings):
    token = secretbox.encrypt("geheim")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key", [settings.SECRET_KEY]
    assert secretbox.decrypt(token) == "geheim"
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(secretbox.SecretUnreadable):
        secretbox.decrypt(token)
