"""The API's docs page: Swagger UI from django-ninja's own template and static files, which the
project serves (no CDN, within the strict CSP).

django-ninja renders its template only when "ninja" is an installed app and links a CDN
otherwise. The project does not install it (that would import pydantic in every worker
process, see settings), so this renders the same template with the same context itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja.openapi.docs import Swagger

if TYPE_CHECKING:
    from ninja import NinjaAPI


class ProjectSwagger(Swagger):
    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        auth = api.auth if isinstance(api.auth, list | tuple) else ()
        context = {
            "swagger_settings": json.dumps(self.settings, indent=1),
            "api": api,
            "add_csrf": any(getattr(method, "csrf", False) for method in auth),
        }
        return render(request, self.template, context)
