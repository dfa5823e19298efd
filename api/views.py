"""The integrations pages for managers: API keys and webhook endpoints with their delivery log.

Everything needs the permission `api.manage_integrations` (group Managers). A key's secret and
an endpoint's signing secret are shown once, in the answer to the POST that made them (never
stored in a URL, the session or the database in the clear).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from api import keys, selectors, webhooks
from api.forms import ApiKeyForm, WebhookEndpointForm
from api.models import ApiKey, Scope, WebhookEndpoint
from rundbrief.events import EVENTS


def manager_required(view):
    return login_required(permission_required("api.manage_integrations", raise_exception=True)(view))


@manager_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "api/overview.html",
        {
            "keys": selectors.keys(),
            "endpoints": selectors.endpoints(),
            "key_form": ApiKeyForm(),
            "endpoint_form": WebhookEndpointForm(),
            "now": timezone.now(),
        },
    )


@manager_required
@require_POST
def key_create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "api/overview.html",
            {
                "keys": selectors.keys(),
                "endpoints": selectors.endpoints(),
                "key_form": form,
                "endpoint_form": WebhookEndpointForm(),
                "now": timezone.now(),
            },
            status=400,
        )
    data = form.cleaned_data
    made = keys.create_key(
        name=data["name"],
        scopes=data["scopes"],
        created_by=request.user,
        expires_at=data["expires_at"],
        rate_limit_per_minute=data["rate_limit_per_minute"],
    )
    response = render(request, "api/key_created.html", {"key": made.key, "secret": made.secret})
    response["Cache-Control"] = "no-store"
    return response


@manager_required
@require_GET
def key_detail(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    labels = dict(Scope.choices)
    return render(
        request,
        "api/key_detail.html",
        {
            "key": key,
            "scopes": [labels.get(s, s) for s in key.scopes],
            "writes": selectors.recent_writes(key),
        },
    )


@manager_required
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    keys.revoke_key(key=key)
    messages.success(
        request, _("The key “%(name)s” is revoked; requests with it are refused.") % {"name": key.name}
    )
    return redirect("api:key_detail", key.pk)


@manager_required
@require_POST
def endpoint_create(request: HttpRequest) -> HttpResponse:
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "api/overview.html",
            {
                "keys": selectors.keys(),
                "endpoints": selectors.endpoints(),
                "key_form": ApiKeyForm(),
                "endpoint_form": form,
                "now": timezone.now(),
            },
            status=400,
        )
    data = form.cleaned_data
    made = webhooks.create_endpoint(
        url=data["url"], events=data["events"], description=data["description"], created_by=request.user
    )
    response = render(request, "api/endpoint_secret.html", {"endpoint": made.endpoint, "secret": made.secret})
    response["Cache-Control"] = "no-store"
    return response


@manager_required
def endpoint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    form = WebhookEndpointForm(
        request.POST or None,
        initial={"url": endpoint.url, "description": endpoint.description, "events": endpoint.events},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        webhooks.update_endpoint(
            endpoint=endpoint, url=data["url"], events=data["events"], description=data["description"]
        )
        messages.success(request, _("Endpoint saved."))
        return redirect("api:endpoint_detail", endpoint.pk)
    return render(
        request,
        "api/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "form": form,
            "events": [EVENTS.get(name, name) for name in endpoint.events],
            "deliveries": selectors.delivery_log(endpoint),
        },
    )


@manager_required
@require_POST
def endpoint_test(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    webhooks.send_test_event(endpoint=endpoint)
    messages.success(request, _("Test event sent; its result is at the top of the delivery log."))
    return redirect("api:endpoint_detail", endpoint.pk)


@manager_required
@require_POST
def endpoint_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    webhooks.set_active(endpoint=endpoint, active=not endpoint.is_active)
    if endpoint.is_active:
        messages.success(request, _("Endpoint enabled."))
    else:
        messages.success(request, _("Endpoint disabled; no events are sent to it."))
    return redirect("api:endpoint_detail", endpoint.pk)


@manager_required
@require_POST
def endpoint_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    secret = webhooks.rotate_secret(endpoint=endpoint)
    response = render(request, "api/endpoint_secret.html", {"endpoint": endpoint, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@manager_required
@require_POST
def endpoint_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    webhooks.delete_endpoint(endpoint=endpoint)
    messages.success(request, _("Endpoint deleted."))
    return redirect("api:overview")
