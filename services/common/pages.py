"""HTML pages: Jinja2 templates (a service's own, then the shared base layout), with
Vietnamese dates in Asia/Ho_Chi_Minh time (services/common/vietnam.py)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from services.common.vietnam import vn_date, vn_datetime, vn_number

COMMON_TEMPLATES = Path(__file__).parent / "templates"
TEMPLATES = web.AppKey("templates", jinja2.Environment)


def make_environment(service_dir: Path) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(service_dir / "templates"),
                jinja2.FileSystemLoader(COMMON_TEMPLATES),
            ]
        ),
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        enable_async=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(vn_date=vn_date, vn_datetime=vn_datetime, vn_number=vn_number)
    # The desk's pages tell session.js how long the access token has left.
    environment.globals["seconds_until"] = seconds_until
    environment.globals["site_name"] = os.environ.get("SITE_NAME", "Cổng thông tin điện tử Bantin")
    return environment


def seconds_until(moment: datetime) -> int:
    """Whole seconds from now until `moment` (0 once it is past)."""
    return max(0, int((moment - datetime.now(UTC)).total_seconds()))


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    html = request.app[TEMPLATES].get_template(template).render(request=request, **context)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
