"""Run inside `nautobot-server nbshell` with the nbjobs App in PLUGINS: renders the App's pages through Nautobot's
own views (Django's test client, a logged-in user) and calls its REST API as several users, printing one JSON
document after PROBE_MARKER.

Parameters (JSON in NBJOBS_PROBE_PARAMS):
  managed      class path of a managed job (its detail page, edit form, list row)
  unmanaged    class path of a job no manifest manages
  retiring     class path of a job being retired (optional)
  restricted   class path the "restricted" user may view (an ObjectPermission constrained to that job)
Users it creates (once): app-admin (superuser), app-viewer (may view every Job), app-restricted (may view one
Job), app-nobody (no permission). Nothing of Nautobot's is changed except those users, their permissions and
tokens; the policy switch to `detect` happens in a transaction that is rolled back.
"""

import json
import os
import re
import traceback
from html.parser import HTMLParser

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from nautobot.extras.jobs import get_jobs
from nautobot.extras.models import Job
from nautobot.users.models import ObjectPermission, Token, User

PARAMS = json.loads(os.environ.get("NBJOBS_PROBE_PARAMS", "{}"))
MARKER = "NBJOBS_PROBE_JSON="
FILTER = "reconciler_nautobot_managed_by"
OUT = {"errors": []}


class Rollback(Exception):
    pass


class Element(HTMLParser):
    """The inner HTML and text of the first element with a given id (or class), from a whole page."""

    VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "source", "col", "area", "base", "wbr"})
    BLOCKS = frozenset({"p", "div", "li", "ul", "tr", "td", "th", "table", "br"})  # text on either side reads apart

    def __init__(self, attr, value):
        super().__init__(convert_charrefs=True)
        self.attr, self.value = attr, value
        self.depth = 0
        self.text = []
        self.found = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs).get(self.attr) or ""
        if self.depth == 0 and not self.found and self.value in values.split():
            self.depth, self.found = 1, True
            return
        if self.depth and tag in self.BLOCKS:
            self.text.append(" ")
        if self.depth and tag not in self.VOID:
            self.depth += 1

    def handle_endtag(self, tag):
        if self.depth and tag in self.BLOCKS:
            self.text.append(" ")
        if self.depth and tag not in self.VOID:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)

    @classmethod
    def text_of(cls, page, attr, value):
        parser = cls(attr, value)
        parser.feed(page)
        return re.sub(r"\s+", " ", "".join(parser.text)).strip() if parser.found else None


def user(name, superuser=False, constraints=None, view_jobs=False):
    found, _ = User.objects.get_or_create(username=name, defaults={"is_superuser": superuser, "is_active": True})
    if view_jobs and not ObjectPermission.objects.filter(name=f"{name} views jobs").exists():
        permission = ObjectPermission.objects.create(name=f"{name} views jobs", actions=["view"],
                                                     constraints=constraints)  # fmt: skip
        permission.object_types.set([ContentType.objects.get_for_model(Job)])
        permission.users.add(found)
    token = Token.objects.filter(user=found).first() or Token.objects.create(user=found)
    return found, token.key


def page(client, url, htmx=False):
    """Nautobot 3 fills a list's table by a second, HTMX, request to the same URL (HX-Request: true)."""
    response = client.get(url, HTTP_HX_REQUEST="true") if htmx else client.get(url)
    return response.status_code, response.content.decode()


def job_of(class_path):
    module, _, name = class_path.rpartition(".")
    return Job.objects.get(module_name=module, job_class_name=name)


def pages(admin, managed, unmanaged, retiring):
    ui = Client()
    ui.force_login(admin)
    out = {}
    for key, job in (("managed", managed), ("unmanaged", unmanaged), ("retiring", retiring)):
        if job is None:
            continue
        status, html = page(ui, reverse("extras:job", kwargs={"pk": job.pk}))
        out[f"{key}_detail"] = {"status": status, "panel": Element.text_of(html, "id", "nbjobs-panel"),
                                "fields_table": "id='nbjobs-fields'" in html}  # fmt: skip
        status, html = page(ui, reverse("extras:job_edit", kwargs={"pk": job.pk}))
        out[f"{key}_edit"] = {"status": status, "banner": Element.text_of(html, "class", "plugin-banner")}
    status, html = page(ui, reverse("extras:job_list") + "?per_page=1000", htmx=True)
    out["list"] = {"status": status, "header": "Managed by" in html, "rows": list_cells(html, managed, unmanaged)}
    for value in ("nbjobs", "none", "retiring"):
        status, html = page(ui, reverse("extras:job_list") + f"?{FILTER}={value}&per_page=1000", htmx=True)
        out[f"list_{value}"] = {"status": status, "has_managed": managed.name in html,
                                "has_unmanaged": unmanaged.name in html}  # fmt: skip
    status, html = page(ui, reverse("extras:job_list"))
    out["filter_form"] = f'name="{FILTER}"' in html
    return out


def list_cells(html, *jobs):
    """The "Managed by" cell of each job's row in the Jobs list."""
    cells = {}
    for job in jobs:
        link = reverse("extras:job", kwargs={"pk": job.pk})
        row = re.search(r"<tr[^>]*>(?:(?!</tr>).)*?" + re.escape(link) + r"(?:(?!</tr>).)*</tr>", html, re.S)
        cells[job.class_path] = re.sub(r"<[^>]+>|\s+", " ", row.group(0)).split() if row else None
    return cells


def api(users):
    out = {}
    urls = {
        "root": "/api/plugins/nbjobs/",
        "managed_jobs": "/api/plugins/nbjobs/managed-jobs/?limit=1000",
        "applies": "/api/plugins/nbjobs/applies/",
        "runs": "/api/plugins/nbjobs/runs/",
        "code_values": "/api/plugins/nbjobs/code-values/?limit=1000",
        "jobs_filtered": f"/api/extras/jobs/?{FILTER}=nbjobs&limit=1000",
    }
    anonymous = Client()
    out["anonymous"] = {key: anonymous.get(url, HTTP_ACCEPT="application/json").status_code
                        for key, url in urls.items()}  # fmt: skip
    for name, key in users.items():
        client = Client(HTTP_AUTHORIZATION=f"Token {key}", HTTP_ACCEPT="application/json")
        out[name] = {}
        for what, url in urls.items():
            response = client.get(url)
            body = response.json() if response["Content-Type"].startswith("application/json") else None
            out[name][what] = {"status": response.status_code, "body": body}
        first = (out[name]["managed_jobs"]["body"] or {}).get("results") or []
        if first:
            response = client.get(f"/api/plugins/nbjobs/managed-jobs/{first[0]['job_id']}/")
            out[name]["managed_job_detail"] = {"status": response.status_code, "body": response.json()}
        # A write is refused whatever the user: the endpoints are read-only.
        response = client.post("/api/plugins/nbjobs/managed-jobs/", {}, content_type="application/json")
        out[name]["post_status"] = response.status_code
    return out


def queries_of_banner_on_other_pages(admin):
    """The banner function runs on every page: off a Job's edit form it must not query anything."""
    from django.test.utils import CaptureQueriesContext

    from reconciler_nautobot.banner import banner

    class Match:
        view_name = "dcim:device_list"

    class Request:
        resolver_match = Match()
        user = admin

    with CaptureQueriesContext(connection) as captured:
        result = banner({"request": Request(), "object": None})
    return {"result": result is None, "queries": len(captured.captured_queries)}


def models_match_tables(models):
    """{table: (columns only the model has, columns only the table has)} for every model that differs."""
    differences = {}
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            actual = {column.name for column in connection.introspection.get_table_description(cursor, table)}
            declared = {field.column for field in model._meta.concrete_fields if field.column}
            if actual != declared:
                differences[table] = (sorted(declared - actual), sorted(actual - declared))
    return differences


def main():
    # A server imports the job code at startup; nbshell does not, and Nautobot's own Job page needs the classes.
    get_jobs(reload=True)
    admin, admin_key = user("app-admin", superuser=True)
    _viewer, viewer_key = user("app-viewer", view_jobs=True)
    restricted_module, _, restricted_class = PARAMS["restricted"].rpartition(".")
    _restricted, restricted_key = user("app-restricted", view_jobs=True, constraints={
        "module_name": restricted_module, "job_class_name": restricted_class})  # fmt: skip
    _nobody, nobody_key = user("app-nobody")
    managed, unmanaged = job_of(PARAMS["managed"]), job_of(PARAMS["unmanaged"])
    retiring = job_of(PARAMS["retiring"]) if PARAMS.get("retiring") else None
    OUT["heal"] = pages(admin, managed, unmanaged, retiring)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("UPDATE nbjobs_run SET policy = 'detect'")
            OUT["detect"] = pages(admin, managed, unmanaged, retiring)
            raise Rollback
    except Rollback:
        pass
    OUT["api"] = api({"admin": admin_key, "viewer": viewer_key, "restricted": restricted_key, "nobody": nobody_key})
    OUT["banner_elsewhere"] = queries_of_banner_on_other_pages(admin)
    from django.apps import apps

    OUT["models_match_tables"] = models_match_tables(apps.get_app_config("reconciler_nautobot").get_models())
    OUT["app"] = {"label": apps.get_app_config("reconciler_nautobot").label,
                  "writes": sorted(m._meta.db_table for m in apps.get_app_config("reconciler_nautobot").get_models()
                                   if m._meta.managed)}  # fmt: skip


try:
    main()
except Exception:
    OUT["errors"].append(traceback.format_exc())
print(MARKER + json.dumps(OUT, default=str))
