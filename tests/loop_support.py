"""What the reconcile-loop tests share: a bare git remote of manifests, a sandbox with the example jobs,
settings pointing at both, and a statement counter."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from common import EXAMPLES
from sqlalchemy import Engine, insert, select, update

from reconciler.config import Settings
from reconciler.discovery.sources import discover
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.nautobot.tables import django_content_type, extras_job, extras_objectchange
from reconciler.sandbox import build_sandbox


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin", "HOME": str(cwd)})  # fmt: skip
    return done.stdout.strip()


class Remote:
    """A bare repository (the remote the loop fetches) and a clone that commits and pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        self.bare.mkdir(parents=True)
        git(self.bare, "init", "--bare", "-q", "-b", "main")
        git(root, "clone", "-q", str(self.bare), str(self.work))
        git(self.work, "checkout", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return str(self.bare)

    def push(self, files: dict[str, str | None], message: str = "change") -> str:
        for relative, text in files.items():
            path = self.work / relative
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        git(self.work, "push", "-q", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")

    def push_examples(self) -> str:
        files = {f"manifests/{p.name}": p.read_text() for p in (EXAMPLES / "manifests").glob("*.yaml")}
        return self.push(dict(files), "the example manifests")


def jobs_root_without_legacy(tmp_path: Path) -> Path:
    """The example jobs, as the sandbox is built from them; then legacy.py is removed, as the retirement
    in the examples asks before its deletion (step 4)."""
    root = tmp_path / "jobs"
    shutil.copytree(EXAMPLES / "jobs", root)
    return root


def build(target: DatabaseTarget, jobs_root: Path) -> None:
    engine = create_db_engine(target)
    try:
        build_sandbox(engine, discover(jobs_root=jobs_root))
    finally:
        engine.dispose()
    (jobs_root / "legacy.py").unlink()


def settings_for(target: DatabaseTarget, remote: Remote, jobs_root: Path, cache: Path, **more: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": target.url.render_as_string(hide_password=False),
        "jobs_root": jobs_root,
        "repo": remote.url,
        "cache_dir": cache,
        "interval": 300,
        "jitter": 0,
        **more,
    }
    return Settings(**values)


def ui_edit(engine: Engine, class_path: str, user: str, **values: Any) -> UUID:
    """What Nautobot's job edit form writes: the row (overrides and last_updated) and an ObjectChange."""
    module, _, name = class_path.rpartition(".")
    now = datetime.now(UTC)
    with engine.begin() as connection:
        query = select(extras_job.c.id).where(extras_job.c.module_name == module, extras_job.c.job_class_name == name)
        job_id = connection.execute(query).scalar_one()
        overrides = {f"{k}_override": True for k in values if k != "enabled"}
        connection.execute(update(extras_job).where(extras_job.c.id == job_id).values(**values, **overrides,
                                                                                      last_updated=now))  # fmt: skip
        job_type = (django_content_type.c.app_label == "extras") & (django_content_type.c.model == "job")
        content_type = connection.execute(select(django_content_type.c.id).where(job_type)).scalar_one()
        connection.execute(insert(extras_objectchange).values(
            id=uuid4(), time=now, user_name=user, request_id=uuid4(), action="update", changed_object_id=job_id,
            object_repr=name, object_data={**values, **overrides}, changed_object_type_id=content_type,
            change_context="web", change_context_detail="extras:job_edit",
        ))  # fmt: skip
    return job_id


def job_value(engine: Engine, class_path: str, column: str) -> Any:
    module, _, name = class_path.rpartition(".")
    with engine.connect() as connection:
        return connection.execute(select(extras_job.c[column]).where(
            extras_job.c.module_name == module, extras_job.c.job_class_name == name)).scalar_one()  # fmt: skip
