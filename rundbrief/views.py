from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


def home(request: HttpRequest) -> HttpResponse:
    """Signed-in users land on their work; everybody else on the public signup page."""
    user = request.user
    if user.is_authenticated:
        if user.has_perm("replies.view_conversation"):
            return redirect("replies:inbox")
        if user.has_perm("campaigns.change_campaign"):
            return redirect("campaigns:list")
    return redirect("subscribers:signup")


def rate_limited(request: HttpRequest, exception: Exception) -> HttpResponse:
    """django-ratelimit's answer: 429 with a reason, JSON for the API."""
    message = _("Too many requests. Please wait a little and try again.")
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "rate_limited", "message": message}, status=429)
    return render(request, "rate_limited.html", {"message": message}, status=429)


@require_safe
@cache_control(max_age=7 * 24 * 3600, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """/favicon.ico, which browsers and feed readers ask for whatever the page links (base.html
    links static/favicon.svg too). Served from the project, so it answers without a static server."""
    return FileResponse(
        (settings.BASE_DIR / "static" / "favicon.ico").open("rb"), content_type="image/x-icon"
    )
