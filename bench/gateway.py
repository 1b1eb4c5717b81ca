"""The real nginx gateway for a benchmark: the template rendered as the local runner
renders it (scripts/run_local.py), in front of services started by the benchmark."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from scripts.run_local import SERVICES, Local, LocalStack, render_gateway_config
from tests.support.private_services import free_port


def start_gateway(
    ports: dict[str, int],
    *,
    page_cache: bool,
    gateway_env: dict[str, str] | None = None,
    edit: Callable[[str], str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """nginx with the gateway's configuration before `ports` (a service missing from them
    gets a port nothing listens on); `edit` may change the rendered configuration for the
    run only (e.g. raise a rate limit). Stop it with SIGQUIT."""
    local = Local(
        run_dir=Path(tempfile.mkdtemp(prefix="bench-run-")),
        gateway_port=free_port(),
        ports={name: ports.get(name) or free_port() for name in SERVICES},
        page_cache=page_cache,
        gateway_env=gateway_env or {},
        nginx_dir=Path(tempfile.mkdtemp(prefix="bench-gateway-")),
    )
    spec = LocalStack(local).spec("gateway")
    conf = render_gateway_config(spec.env, local.gateway_dir)
    if edit is not None:
        conf_file = conf.parent / "conf.d" / "default.conf"
        conf_file.write_text(edit(conf_file.read_text()))
    process = subprocess.Popen(
        ["nginx", "-p", str(conf.parent), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{local.gateway_port}"
