"""The facts harden learns from an app's own source (see app_source.py, which reads them), kept
in a module of their own so that a cached result loads without the analyser and its tables."""

from __future__ import annotations

from .record import field, record


@record
class Evidence:
    file: str  # path relative to the build context (posix)
    line: int  # 1-based
    what: str  # e.g. "imports pymysql", "FastAPI app", "reads env DB_HOST", "calls api.telegram.org"


@record
class SourceFacts:
    language: str | None = None  # "python" | "node" | "go" | None
    entrypoint: str | None = None  # e.g. "app.main:app (uvicorn)", "bot.py", "manage.py runserver", "celery worker -A proj"
    serves_http: bool = False
    port: int | None = None  # port the app listens on when known
    clients: set[str] = field(default_factory=set)  # "mysql","postgres","redis","mongo","rabbitmq","elasticsearch","memcached"
    env_hosts: set[str] = field(default_factory=set)  # env var names read by the code that hold hosts/URLs
    egress: bool = False  # calls the internet
    evidence: list[Evidence] = field(default_factory=list)
    truncated: bool = False  # a bound was hit (files/bytes/time); facts are partial
    notes: list[str] = field(default_factory=list)
    # the time bound stopped the reading: what was read depends on the machine's load, so the
    # engine treats the facts as unknown (and says so) and never caches them
    time_bound: bool = False


def referenced_services(facts: SourceFacts) -> set[str]:
    """Project services the source names as hosts (``"db"``, ``http://api:8000``...).

    Only names passed in ``service_names`` to :func:`analyze` are recognised."""
    out = set()
    for ev in facts.evidence:
        if ev.what.startswith("refers to service "):
            out.add(ev.what[len("refers to service "):])
    return out
