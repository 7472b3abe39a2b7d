"""Rendering app pages from the Jinja templates: the window shell, worker pages and
web-python boot, with values escaped; and the auth parameters a page connects with."""

from browser_worker._render.auth_params import init_script, query_params, with_query
from browser_worker._render.templates import app_data, bundle_type, console_capture_script, environment, hypha_rpc_url, render_shell, render_window, render_worker_page, template_text, worker_app, WORKER_KINDS

__all__ = [
    "init_script",
    "query_params",
    "with_query",
    "app_data",
    "bundle_type",
    "console_capture_script",
    "environment",
    "hypha_rpc_url",
    "render_shell",
    "render_window",
    "render_worker_page",
    "template_text",
    "worker_app",
    "WORKER_KINDS",
]
