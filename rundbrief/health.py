"""/healthz for load balancers and orchestrators, /metrics for Prometheus."""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from rundbrief.http import client_ip
from rundbrief.monitoring import RundbriefCollector, health


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every part works, 503 naming the failing parts. No login; nothing secret in it."""
    healthy, report = health()
    return JsonResponse(report, status=200 if healthy else 503)


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return True
    try:
        # The client as our own proxies vouch for it (TRUSTED_PROXIES / TRUSTED_PROXY_HOPS).
        client = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if client in ipaddress.ip_network(allowed.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def _process_metrics() -> bytes:
    """Request metrics (django-prometheus): of every web process when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse(
            "Forbidden: send 'Authorization: Bearer <METRICS_TOKEN>' or scrape from METRICS_ALLOWED_IPS.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RundbriefCollector())
    body = _process_metrics() + generate_latest(registry)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
