"""Forms of the dialogue pages (labels in both languages through the catalogue)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from dialogue.models import ReaderLetter
from subscribers.models import Topic


class ProposeLetterForm(forms.Form):
    # The reply's words are content, not interface text (translate="no" for translation tools).
    message = forms.TypedChoiceField(
        label=_("From the reply"), coerce=int, widget=forms.Select(attrs={"translate": "no"})
    )
    text = forms.CharField(
        label=_("Excerpt to publish"),
        # Its own id: the staff answer on the same conversation page is id_text.
        widget=forms.Textarea(attrs={"rows": 5, "id": "id_letter_text"}),
        help_text=_("You may shorten it (mark left-out parts with …), but not change or add words."),
    )
    signature_kind = forms.ChoiceField(
        label=_("Signature"), choices=ReaderLetter.Signature.choices, initial=ReaderLetter.Signature.ANONYMOUS
    )
    town = forms.CharField(
        label=_("Town (for initials and town)"),
        required=False,
        max_length=100,
        help_text=_("Only if the subscriber gave it."),
    )
    topic = forms.ModelChoiceField(label=_("Topic"), queryset=Topic.objects.filter(is_public=True))

    def __init__(self, *args, messages=(), **kwargs):
        # Its own ids: the conversation page has the answer form's "text" field too.
        kwargs.setdefault("auto_id", "letter_%s")
        super().__init__(*args, **kwargs)
        self.fields["message"].choices = [
            (m.pk, f"{m.created_at:%Y-%m-%d %H:%M} · {(m.stripped_text or m.text)[:60]}") for m in messages
        ]


class WebReplyForm(forms.Form):
    text = forms.CharField(label=_("Your reply"), widget=forms.Textarea(attrs={"rows": 6}), max_length=20000)


class CallbackForm(forms.Form):
    phone = forms.RegexField(
        label=_("Phone number"),
        regex=r"^\+?[0-9 ()/.-]{5,30}$",
        max_length=40,
        error_messages={"invalid": _("Enter a phone number (digits, spaces, + - / ( ) only).")},
    )
    window = forms.CharField(
        label=_("When may we call?"),
        max_length=200,
        help_text=_("For example: weekdays 9–12, or Tuesday afternoon."),
    )
