"""Privacy across the dialogue features: the data download includes letters and call-back data."""

from __future__ import annotations

import json
import zipfile

import pytest
from django.test import TestCase

from campaigns.models import Delivery
from dialogue.selectors import target_of_delivery
from dialogue.services.conversations import ask_for_callback
from subscribers.exports import build_archive
from tests.dialogue.conftest import send

pytestmark = pytest.mark.django_db


def test_the_data_download_holds_callback_requests(world):
    send(world.campaign)
    delivery = Delivery.objects.get(subscriber=world.karla)
    with TestCase.captureOnCommitCallbacks(execute=True):
        ask_for_callback(
            subscriber=world.karla, target=target_of_delivery(delivery), phone="0228 99", window="abends"
        )
    with zipfile.ZipFile(build_archive(world.karla)) as archive:
        data = json.loads(archive.read("data.json"))
    assert data["callback_requests"][0]["phone"] == "0228 99"
    assert data["reader_letters"] == []
