"""HTML pages: Jinja2 templates (a service's own, then the shared base layout), with
Vietnamese dates in Asia/Ho_Chi_Minh time."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
COMMON_TEMPLATES = Path(__file__).parent / "templates"
TEMPLATES = web.AppKey("templates", jinja2.Environment)


def vn_date(value: datetime | date | None) -> str:
    """dd/mm/yyyy as readers in Vietnam write it, on Vietnam's calendar day."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(VIETNAM).date()
    return value.strftime("%d/%m/%Y")


def vn_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")


def vn_number(value: int) -> str:
    """1234567 -> 1.234.567 (Vietnamese thousands separator)."""
    return f"{value:,}".replace(",", ".")


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
    environment.globals["site_name"] = os.environ.get("SITE_NAME", "Cổng thông tin điện tử Bantin")
    return environment


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    html = request.app[TEMPLATES].get_template(template).render(request=request, **context)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
