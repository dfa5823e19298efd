"""The managers' suppression list: why each address is suppressed, and lifting a bounce suppression.

Needs ``subscribers.lift_suppression`` (group Managers). Lifting is a POST with the manager's
note; subscribers.services.lift_suppression records it in the consent proof.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from subscribers import selectors, services
from subscribers.models import Suppression


def manager_required(view):
    return login_required(permission_required("subscribers.lift_suppression", raise_exception=True)(view))


@manager_required
@require_GET
def suppression_list(request: HttpRequest) -> HttpResponse:
    reason = request.GET.get("reason", "")
    reasons = [reason] if reason in Suppression.Reason.values else []
    return render(
        request,
        "subscribers/manage/suppressions.html",
        {
            "section": "suppressions",
            "rows": selectors.suppression_list(reasons=reasons),
            "reasons": Suppression.Reason.choices,
            "chosen_reason": reasons[0] if reasons else "",
            "unattributed": selectors.unattributed_bounces(),
        },
    )


@manager_required
@require_POST
def lift(request: HttpRequest, pk: int) -> HttpResponse:
    suppression = get_object_or_404(Suppression, pk=pk)
    try:
        services.lift_suppression(
            suppression=suppression, by=request.user.get_username(), note=request.POST.get("note", "")[:500]
        )
    except services.CannotLift:
        messages.error(request, _("This suppression is the person's own decision and cannot be lifted."))
    else:
        messages.success(request, _("The suppression was lifted; the address can be mailed again."))
    return redirect("subscribers:suppressions")
