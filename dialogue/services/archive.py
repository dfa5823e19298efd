"""Taking a sent issue off the public archive, and putting it back."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from campaigns.models import Campaign
from dialogue.models import ArchiveRemoval


def take_off_archive(*, campaign: Campaign, user: AbstractBaseUser | None) -> ArchiveRemoval:
    removal, _created = ArchiveRemoval.objects.get_or_create(campaign=campaign, defaults={"removed_by": user})
    return removal


def put_back_on_archive(*, campaign: Campaign) -> None:
    ArchiveRemoval.objects.filter(campaign=campaign).delete()
