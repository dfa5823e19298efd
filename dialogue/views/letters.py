"""A reader letter's signed page: the exact text and signature, and the subscriber's answer.

Only a POST changes anything ("yes", "no", "withdraw"); a GET (a link scanner, a preview) never
publishes. The preference centre's withdraw buttons post here too.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from dialogue import links, selectors
from dialogue.services import letters as letter_services
from dialogue.views.common import gone, private, read_link
from subscribers.views.common import client_info, render_page

ACTIONS = {"consent", "decline", "withdraw"}


@csrf_exempt  # authorised by the signed link (dialogue.views.common)
@require_http_methods(["GET", "POST"])
def letter(request: HttpRequest, token: str) -> HttpResponse:
    link = read_link(request, links.LETTER, token)
    if isinstance(link, HttpResponse):
        return private(link)
    found = selectors.letter_of(subscriber_id=link.subscriber_id, letter_id=link.object_id)
    if found is None:
        return private(gone(request))
    problem = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        client = letter_services.ClientInfo(**client_info(request))
        try:
            if action == "consent":
                letter_services.consent_to_letter(
                    letter=found, shown=request.POST.get("shown", ""), client=client
                )
            elif action == "decline":
                letter_services.decline_letter(letter=found, client=client)
            elif action == "withdraw":
                source = "preference_centre" if request.POST.get("via") == "pc" else "letter_page"
                letter_services.withdraw_letter(letter=found, source=source, client=client)
        except letter_services.LetterError as exc:
            problem = str(exc)
        else:
            if action in ACTIONS:
                back = request.POST.get("next", "")
                if action == "withdraw" and back.startswith("/preferences/"):
                    return private(redirect(back))
                return private(redirect(request.path))
        found.refresh_from_db()
    context = {
        "letter": found,
        "shown": letter_services.shown_digest(found),
        "problem": problem,
        "wording_version": letter_services.WORDING_VERSION,
    }
    response = render_page(request, "dialogue/letter.html", context, subscriber=found.subscriber)
    if problem:
        response.status_code = 409
    return private(response)
