"""No HTML page we serve references another origin, and every asset it loads is ours and loads.

Every URL pattern without parameters (admin pages included) is fetched, anonymously and as a
superuser, plus the admin's app pages and an audit entry's and a task's page. In each HTML
answer every URL-bearing attribute, inline style and `<style>` must be relative or a `data:`
URI; every stylesheet, script and icon it loads must answer 200, and the URLs inside each
stylesheet (`url(...)`, `@import`) must be ours too. The browser tests (tests/browser/) show
the same pages working with the network shut off; this one covers every page.
"""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admindocs.views import extract_views_from_urlpatterns, simplify_regex
from django.test import Client
from django.urls import get_resolver, reverse

from audit_app.models import AuditLog
from audit_app.tests.factories import make_event, store_events
from tasks_app.models import Task

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"
URL_ATTRIBUTES = {"src", "href", "action", "formaction", "poster", "data", "srcset", "xlink:href", "background"}
# Attributes whose URL the browser fetches by itself when the page loads.
LOADED = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"), ("embed", "src")}
LOADED_LINK_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "manifest", "apple-touch-icon"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.loaded: list[str] = []
        self.stylesheets: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name in URL_ATTRIBUTES:
                for url in value.split(",") if name == "srcset" else [value]:
                    self.urls.append((tag, name, url.strip().split(" ")[0]))
            if name == "style":
                self.urls += [(tag, "style", m[0] or m[1]) for m in CSS_URL.findall(value)]
        if (tag, "src") in LOADED and values.get("src"):
            self.loaded.append(values["src"])
        rels = set(values.get("rel", "").lower().split())
        if tag == "link" and rels & LOADED_LINK_RELS and values.get("href"):
            self.loaded.append(values["href"])
            if "stylesheet" in rels:
                self.stylesheets.append(values["href"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += [("style", "text", m[0] or m[1]) for m in CSS_URL.findall(data)]


def foreign(url: str) -> bool:
    """True for a URL that would reach another origin (scheme-relative `//host` included)."""
    parts = urlsplit(url)
    if parts.scheme in ("", "data") and not parts.netloc:
        return False
    if parts.scheme in ("mailto", "javascript"):
        return parts.scheme == "javascript"
    return f"{parts.scheme or 'http'}://{parts.netloc}" != ORIGIN


def pages(task: Task, entry: AuditLog) -> list[str]:
    paths = []
    for _view, regex, namespace, _name in extract_views_from_urlpatterns(get_resolver().url_patterns):
        path = simplify_regex(regex)
        if namespace == ["anymail"]:
            continue  # ESP webhooks: POSTs from mail providers, not pages
        if "<" not in path and path not in paths:
            paths.append(path)
    labels = {model._meta.app_label for model in apps.get_models() if admin.site.is_registered(model)}
    paths += [reverse("admin:app_list", args=[label]) for label in sorted(labels)]
    paths += [
        reverse("admin:tasks_app_task_change", args=[task.pk]),
        reverse("admin:audit_app_auditlog_change", args=[entry.pk]),
    ]
    return paths


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def check_page(client: Client, path: str, problems: list[str], checked_assets: set[str]) -> bool:
    response = client.get(path)
    if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
        return False
    collector = _Collector()
    collector.feed(body(response).decode())
    problems += [f"{path}: <{tag} {attr}> {url}" for tag, attr, url in collector.urls if foreign(url)]
    for asset in collector.loaded:
        url = urljoin(ORIGIN + path, asset)
        if foreign(url) or url in checked_assets:
            continue
        checked_assets.add(url)
        answer = client.get(url)
        if answer.status_code != 200:
            problems.append(f"{path}: {asset} answers {answer.status_code}")
        elif asset in collector.stylesheets:
            check_stylesheet(client, url, body(answer).decode(), problems, checked_assets)
    return True


def check_stylesheet(client: Client, url: str, text: str, problems: list[str], checked: set[str]) -> None:
    for match in CSS_URL.findall(text):
        reference = urljoin(url, match[0] or match[1])
        if foreign(reference):
            problems.append(f"{url}: {match[0] or match[1]}")
        elif match[1] and reference not in checked:  # an @import: check the imported sheet too
            checked.add(reference)
            check_stylesheet(client, reference, body(client.get(reference)).decode(), problems, checked)


def test_no_page_references_another_origin_and_every_asset_loads(make_user: Any) -> None:
    owner = make_user("alice")
    task = Task.objects.create(owner=owner, title="Renew passport")
    event = make_event(user_id=owner.pk, task_id=task.id, correlation_id=f"req-{uuid.uuid4().hex}")
    store_events(event)
    entry = AuditLog.objects.get(event_id=event.id)
    staff = Client(raise_request_exception=False)
    staff.force_login(make_user("root", is_staff=True, is_superuser=True))
    problems: list[str] = []
    checked_assets: set[str] = set()

    seen = {
        (who, path)
        for path in pages(task, entry)
        for who, client in (("anonymous", Client(raise_request_exception=False)), ("staff", staff))
        if check_page(client, path, problems, checked_assets)
    }

    assert problems == []
    seen_paths = {path for _who, path in seen}
    # The pages this test exists for were really parsed, and their assets really fetched.
    assert {"/admin/login/", "/admin/", "/admin/audit_app/auditlog/", "/api/docs/", "/live/"} <= seen_paths
    assert any("swagger-ui-bundle.js" in asset for asset in checked_assets), checked_assets
    assert any("admin/css/base.css" in asset for asset in checked_assets), checked_assets
