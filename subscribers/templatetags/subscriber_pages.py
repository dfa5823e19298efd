"""Wording helpers for the subscriber pages."""

from __future__ import annotations

from django import template
from django.utils.translation import ngettext

from subscribers.models import Subscriber

register = template.Library()


@register.filter
def frequency_sentence(subscriber: Subscriber) -> str:
    """ "Every issue", "At most 2 mails per week", "At most 1 mail per month"."""
    count = subscriber.frequency_limit
    if subscriber.frequency == Subscriber.Frequency.PER_WEEK:
        return ngettext("At most %(count)d mail per week", "At most %(count)d mails per week", count) % {
            "count": count
        }
    if subscriber.frequency == Subscriber.Frequency.PER_MONTH:
        return ngettext("At most %(count)d mail per month", "At most %(count)d mails per month", count) % {
            "count": count
        }
    return str(subscriber.get_frequency_display())
