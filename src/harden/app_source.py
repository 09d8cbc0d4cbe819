"""What a service is, learned from the app's own source: never imported, never run.

``analyze(context, command)`` reads the build context of one service and answers: which
language, which entrypoint, does it serve HTTP (on which port), which stores does it talk to
(``clients``), which environment variables hold the hosts/URLs it connects to (``env_hosts``), and
does it call the internet (``egress``). Every fact comes with :class:`Evidence` (file, line, what).

Python is parsed with libcst (imported lazily: importing this module stays cheap). The analysis
starts from the entrypoint given by the command (uvicorn/gunicorn targets, ``python x.py``,
``python -m pkg``, ``manage.py runserver``, ``celery -A proj`` ...) and follows local imports and
dotted-module strings (``DJANGO_SETTINGS_MODULE``, ``ROOT_URLCONF``, ``INSTALLED_APPS``, celery
``include``), so only the code the entrypoint reaches is read. With no usable entrypoint every
``*.py`` file is scanned (virtualenvs, ``.git``, ``node_modules``, tests and migrations skipped).

Node (package.json + a regex scan of the entry files) and Go (go.mod + a regex scan of ``*.go``)
are cheap, best-effort readings, and say so in ``notes``.

Reading Python is kept cheap without changing what is found:

- a text pre-scan of each module read (strings and comments told apart from code) decides
  whether it is parsed at all: only a module with something that can make a fact is (see "the
  text pre-scan" below). A module without is still read and counted against the bounds; not
  being parsed, it is not reported when it would not parse;
- the parsed tree is walked by :func:`_make_walk`, in libcst's own visiting order, counting
  lines as it goes, instead of libcst's visitor machinery and PositionProvider (which rebuild
  and render every node); a module whose line count disagrees is read the slow, exact way;
- the files of one build context are parsed once for all the services (commands) built from
  it, and :mod:`harden.facts_cache` reads independent contexts in parallel processes.

Bounds: ``max_files`` files and ``max_bytes`` bytes read, :data:`MAX_FILE_BYTES` per file and
:data:`MAX_SECONDS` of wall time; hitting one sets ``truncated`` and adds a note. The time bound
also sets ``time_bound``: what was read by then depends on the machine's load, so the engine
uses no facts at all for that service (and says so) and the facts cache never keeps them. A file
that does not parse is skipped with a note. Before libcst sees a file, CPython's own parser
checks it (libcst accepts some code CPython rejects) and its expression nesting depth is bounded
(:data:`MAX_EXPR_DEPTH`; :func:`_depth_bound` from the text, the exact depth only where that
bound is too high): libcst 1.0.1 crashes the process (segfault) on ~1,500 nested brackets and
takes seconds to minutes on a few thousand chained calls/attributes/operators.

Evidence for facts that come from the command rather than a file uses the file name
``"<command>"`` and line 0.
"""

from __future__ import annotations

import ast
import ipaddress
import json
import os
import re
import shlex
import sys
import time
from collections import deque
from .record import field, record
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

__all__ = [
    "Evidence",
    "SourceFacts",
    "analyze",
    "effective_command",
    "referenced_services",
    "COMMAND_FILE",
]

#: wall-clock budget of one ``analyze`` call (checked between files)
MAX_SECONDS = 15.0
#: a single file larger than this is skipped (generated code, bundles)
MAX_FILE_BYTES = 512_000
#: deepest expression nesting handed to libcst (CPython itself refuses ~200 nested brackets)
MAX_EXPR_DEPTH = 200
#: the ``Evidence.file`` of facts that come from the command, not from a file
COMMAND_FILE = "<command>"

_MAX_SCRIPT_DEPTH = 4


# --------------------------------------------------------------------------- public types


from .facts import Evidence, SourceFacts, referenced_services  # noqa: E402,F401  (re-exported)


# --------------------------------------------------------------------------- effective command

_UNSET: Any = object()


def _form(value: Any, *, compose: bool) -> tuple[str, Any] | None:
    """("exec", [..]) or ("shell", "..") or None for unset."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return ("exec", [str(x) for x in value])
    if not isinstance(value, str):
        return ("exec", [str(value)])
    if compose:
        # Compose splits a string command shell-like into words; no shell is involved.
        try:
            return ("exec", shlex.split(value))
        except ValueError:
            return ("exec", value.split())
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
            return ("exec", parsed)
    return ("shell", text)


def effective_command(
    compose_command: Any,
    dockerfile_entrypoint: Any,
    dockerfile_cmd: Any,
    *,
    compose_entrypoint: Any = _UNSET,
) -> list[str] | str | None:
    """Combine the commands the way Docker and Compose do.

    - Dockerfile values: a list is exec form; a string is exec form when it is a JSON array of
      strings (``'["python", "app.py"]'``), shell form otherwise.
    - Compose values: a list, or a string that Compose splits into words (no shell).
    - Compose ``command`` replaces CMD. A Compose ``entrypoint`` (keyword, optional) replaces
      ENTRYPOINT and drops the image's CMD.
    - A shell-form ENTRYPOINT ignores CMD and command: the result is that shell string.
    - Exec ENTRYPOINT + shell CMD: ``entrypoint + ["/bin/sh", "-c", cmd]``.
    - No ENTRYPOINT: CMD/command as given; a shell-form CMD comes back as a string.

    Returns a list (exec form), a string (shell form, run by ``/bin/sh -c``) or None.
    """
    if compose_entrypoint is not _UNSET and compose_entrypoint is not None:
        ep = _form(compose_entrypoint, compose=True)
        cmd = _form(compose_command, compose=True)
    else:
        ep = _form(dockerfile_entrypoint, compose=False)
        cmd = _form(compose_command, compose=True) if compose_command is not None else _form(dockerfile_cmd, compose=False)
    if ep is not None and ep[0] == "shell":
        return ep[1] or None
    ep_list = ep[1] if ep is not None else []
    if ep_list:
        if cmd is None:
            return list(ep_list)
        if cmd[0] == "exec":
            return list(ep_list) + list(cmd[1])
        return list(ep_list) + ["/bin/sh", "-c", cmd[1]]
    if cmd is None:
        return None
    if cmd[0] == "exec":
        return list(cmd[1]) or None
    return cmd[1] or None


# --------------------------------------------------------------------------- tables

# Python modules -> store kind
_PY_CLIENTS = {
    "pymysql": "mysql", "MySQLdb": "mysql", "aiomysql": "mysql", "asyncmy": "mysql",
    "mysql.connector": "mysql", "mariadb": "mysql", "mysqlx": "mysql",
    "psycopg": "postgres", "psycopg2": "postgres", "psycopg_pool": "postgres", "asyncpg": "postgres",
    "aiopg": "postgres", "pg8000": "postgres",
    "redis": "redis", "aioredis": "redis", "django_redis": "redis", "channels_redis": "redis",
    "rq": "redis", "arq": "redis", "dramatiq.brokers.redis": "redis",
    "pymongo": "mongo", "motor": "mongo", "mongoengine": "mongo", "beanie": "mongo", "odmantic": "mongo",
    "pika": "rabbitmq", "aio_pika": "rabbitmq", "aiormq": "rabbitmq", "kombu": "rabbitmq",
    "amqpstorm": "rabbitmq", "dramatiq.brokers.rabbitmq": "rabbitmq",
    "elasticsearch": "elasticsearch", "elasticsearch_dsl": "elasticsearch", "elasticsearch_async": "elasticsearch",
    "pymemcache": "memcached", "memcache": "memcached", "pylibmc": "memcached", "aiomcache": "memcached",
    "bmemcached": "memcached",
}
# peewee-style constructors that name their database kind
_PY_CLIENT_CALLS = {
    "MySQLDatabase": "mysql", "PooledMySQLDatabase": "mysql",
    "PostgresqlDatabase": "postgres", "PooledPostgresqlDatabase": "postgres", "PostgresqlExtDatabase": "postgres",
}
# SDKs whose whole point is an internet API
_PY_EGRESS = {
    "discord": "Discord", "nextcord": "Discord", "disnake": "Discord", "hikari": "Discord",
    "aiogram": "Telegram", "telegram": "Telegram", "telebot": "Telegram", "pyrogram": "Telegram",
    "telethon": "Telegram", "slack_sdk": "Slack", "slack_bolt": "Slack", "slack": "Slack",
    "openai": "OpenAI", "anthropic": "Anthropic", "cohere": "Cohere", "mistralai": "Mistral",
    "groq": "Groq", "google.generativeai": "Google AI", "google.genai": "Google AI",
    "replicate": "Replicate", "huggingface_hub": "Hugging Face",
    "boto3": "AWS", "botocore": "AWS", "aioboto3": "AWS", "aiobotocore": "AWS",
    "stripe": "Stripe", "twilio": "Twilio", "sendgrid": "SendGrid", "mailchimp_marketing": "Mailchimp",
    "tweepy": "Twitter", "praw": "Reddit", "vk_api": "VK", "googleapiclient": "Google APIs",
    "google.cloud": "Google Cloud", "firebase_admin": "Firebase", "sentry_sdk": "Sentry",
}
# HTTP clients: egress only together with a literal external URL
_PY_HTTP_CLIENTS = (
    "requests", "httpx", "aiohttp", "urllib.request", "urllib3", "http.client", "pycurl",
    "websockets", "websocket", "tornado.httpclient", "treq", "grequests", "smtplib",
)
# framework constructors: call name -> (module that must be imported, label, default port)
_PY_FRAMEWORKS = {
    "FastAPI": ("fastapi", "FastAPI"), "Starlette": ("starlette", "Starlette"), "Flask": ("flask", "Flask"),
    "APIFlask": ("apiflask", "Flask"), "Quart": ("quart", "Quart"), "Sanic": ("sanic", "Sanic"),
    "Litestar": ("litestar", "Litestar"), "Bottle": ("bottle", "Bottle"),
}
_PY_RUN_DEFAULT_PORT = {"Flask": 5000, "Quart": 5000, "Sanic": 8000, "Bottle": 8080}

# dotted strings (Django settings, celery/channels config) -> store kind
_PY_DOTTED_STORES = (
    ("django.db.backends.mysql", "mysql"), ("mysql.connector.django", "mysql"),
    ("django.db.backends.postgresql", "postgres"), ("django.contrib.gis.db.backends.postgis", "postgres"),
    ("django_redis.cache.", "redis"), ("django.core.cache.backends.redis.", "redis"),
    ("channels_redis.", "redis"), ("django.core.cache.backends.memcached.", "memcached"),
    ("djongo", "mongo"), ("django_elasticsearch_dsl", "elasticsearch"),
)

# URL scheme -> store kind
_SCHEME_KINDS = {
    "mysql": "mysql", "mariadb": "mysql", "postgres": "postgres", "postgresql": "postgres",
    "postgis": "postgres", "pgsql": "postgres", "redis": "redis", "rediss": "redis",
    "mongodb": "mongo", "mongodb+srv": "mongo", "amqp": "rabbitmq", "amqps": "rabbitmq",
    "pyamqp": "rabbitmq", "librabbitmq": "rabbitmq", "memcached": "memcached", "memcache": "memcached",
    "elasticsearch": "elasticsearch",
}
_WEB_SCHEMES = {"http", "https", "ws", "wss"}

# Node packages
_NODE_HTTP = {
    "express": None, "fastify": None, "koa": None, "@nestjs/core": 3000, "@nestjs/platform-express": None,
    "next": 3000, "nuxt": 3000, "@hapi/hapi": None, "hapi": None, "restify": None, "@remix-run/serve": 3000,
    "sails": 1337, "polka": None, "@adonisjs/core": 3333,
}
_NODE_CLIENTS = {
    "pg": "postgres", "pg-promise": "postgres", "postgres": "postgres", "pg-pool": "postgres",
    "mysql": "mysql", "mysql2": "mysql", "mariadb": "mysql",
    "mongodb": "mongo", "mongoose": "mongo",
    "redis": "redis", "ioredis": "redis", "bull": "redis", "bullmq": "redis", "bee-queue": "redis",
    "connect-redis": "redis",
    "amqplib": "rabbitmq", "amqp-connection-manager": "rabbitmq", "rascal": "rabbitmq",
    "@elastic/elasticsearch": "elasticsearch", "elasticsearch": "elasticsearch",
    "memcached": "memcached", "memjs": "memcached",
}
_NODE_EGRESS = {
    "discord.js": "Discord", "telegraf": "Telegram", "node-telegram-bot-api": "Telegram", "grammy": "Telegram",
    "@slack/bolt": "Slack", "@slack/web-api": "Slack", "openai": "OpenAI", "@anthropic-ai/sdk": "Anthropic",
    "stripe": "Stripe", "twilio": "Twilio", "@sendgrid/mail": "SendGrid", "aws-sdk": "AWS",
    "googleapis": "Google APIs", "firebase-admin": "Firebase", "@sentry/node": "Sentry",
}
_NODE_EGRESS_PREFIXES = {"@aws-sdk/": "AWS", "@google-cloud/": "Google Cloud"}
_NODE_HTTP_CLIENTS = ("axios", "node-fetch", "got", "undici", "superagent", "request", "ky", "cross-fetch")

# Go modules (prefix match)
_GO_HTTP = ("github.com/gin-gonic/gin", "github.com/labstack/echo", "github.com/gofiber/fiber",
            "github.com/gorilla/mux", "github.com/go-chi/chi", "github.com/julienschmidt/httprouter",
            "github.com/valyala/fasthttp")
_GO_CLIENTS = {
    "github.com/go-sql-driver/mysql": "mysql", "gorm.io/driver/mysql": "mysql",
    "github.com/lib/pq": "postgres", "github.com/jackc/pgx": "postgres", "gorm.io/driver/postgres": "postgres",
    "github.com/redis/go-redis": "redis", "github.com/go-redis/redis": "redis", "github.com/gomodule/redigo": "redis",
    "go.mongodb.org/mongo-driver": "mongo", "github.com/streadway/amqp": "rabbitmq",
    "github.com/rabbitmq/amqp091-go": "rabbitmq", "github.com/elastic/go-elasticsearch": "elasticsearch",
    "github.com/olivere/elastic": "elasticsearch", "github.com/bradfitz/gomemcache": "memcached",
}
_GO_EGRESS = {
    "github.com/bwmarrin/discordgo": "Discord", "github.com/go-telegram-bot-api/telegram-bot-api": "Telegram",
    "gopkg.in/telebot": "Telegram", "gopkg.in/tucnak/telebot": "Telegram", "github.com/slack-go/slack": "Slack",
    "github.com/aws/aws-sdk-go": "AWS", "github.com/sashabaranov/go-openai": "OpenAI",
    "github.com/stripe/stripe-go": "Stripe", "github.com/twilio/twilio-go": "Twilio", "cloud.google.com/go": "Google Cloud",
}

# env var names
_HOSTISH_TOKENS = {"HOST", "HOSTS", "HOSTNAME", "URL", "URLS", "URI", "URIS", "DSN", "ADDR", "ADDRESS",
                   "ENDPOINT", "ENDPOINTS", "SERVER", "SERVERS", "BROKER"}
_HOSTISH_SUFFIXES = ("HOST", "HOSTNAME", "URL", "URI", "DSN")
_NOT_HOSTISH = {"ALLOWED_HOSTS", "INTERNAL_IPS", "CSRF_TRUSTED_ORIGINS", "CORS_ALLOWED_ORIGINS", "CORS_ORIGINS"}
_ENV_KIND_TOKENS = {
    "MYSQL": "mysql", "MARIADB": "mysql", "POSTGRES": "postgres", "POSTGRESQL": "postgres", "PG": "postgres",
    "PGHOST": "postgres", "PSQL": "postgres", "REDIS": "redis", "MONGO": "mongo", "MONGODB": "mongo",
    "RABBIT": "rabbitmq", "RABBITMQ": "rabbitmq", "AMQP": "rabbitmq", "ELASTIC": "elasticsearch",
    "ELASTICSEARCH": "elasticsearch", "MEMCACHE": "memcached", "MEMCACHED": "memcached",
}

_SKIP_DIRS = {
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", "virtualenv", ".virtualenv",
    "site-packages", "dist-packages", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".idea", ".vscode", ".eggs", "bower_components", ".next", ".nuxt", ".cache",
}
_SCAN_SKIP_DIRS = {"tests", "test", "testing", "migrations", "docs", "doc", "examples", "build", "dist", "vendor",
                   "testdata", "fixtures"}

_URL_RE = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]{1,30})://([^\s'\"<>`\\]*)")
_DOTTED_RE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_][\w.]*(?:\(\))?)?$")
_DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_IGNORED_HOSTS = ("w3.org", "schema.org", "json-schema.org", "example.com", "example.org", "example.net",
                  "purl.org", "xmlns.com", "ietf.org", "localhost")
_INTERNAL_SUFFIXES = (".local", ".internal", ".localdomain", ".lan", ".home", ".svc", ".cluster.local",
                      ".test", ".invalid", ".example", ".localhost", ".docker")


def _is_hostish_env(name: str) -> bool:
    up = name.upper()
    if up in _NOT_HOSTISH or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", up):
        return False
    tokens = [t for t in up.split("_") if t]
    if not tokens:
        return False
    return tokens[-1] in _HOSTISH_TOKENS or up.endswith(_HOSTISH_SUFFIXES)


def _env_kind(name: str) -> str | None:
    up = name.upper()
    for tok in up.split("_"):
        if tok in _ENV_KIND_TOKENS:
            return _ENV_KIND_TOKENS[tok]
    return None


def _module_table_hit(module: str, table: dict[str, Any]) -> tuple[str, Any] | None:
    """Longest key of ``table`` that is ``module`` or a dotted prefix of it."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key in table:
            return key, table[key]
    return None


def _redact_url(scheme: str, rest: str) -> str:
    """scheme://rest without user:password."""
    if "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1] if rest.count("@") == 1 else rest.rsplit("@", 1)[1]
    rest = rest.split("?", 1)[0]
    return f"{scheme}://{rest}"[:120]


def _url_host(rest: str) -> tuple[str | None, int | None]:
    """host and port of the authority part of scheme://rest (None when templated)."""
    auth = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in auth:
        auth = auth.rsplit("@", 1)[1]
    if "," in auth:  # multi-host (mongodb://a,b,c)
        auth = auth.split(",", 1)[0]
    port = None
    if auth.startswith("["):
        host, _, tail = auth[1:].partition("]")
        if tail.startswith(":") and tail[1:].isdigit():
            port = int(tail[1:])
    else:
        host, _, p = auth.partition(":")
        if p.isdigit():
            port = int(p)
    host = host.strip().lower()
    if not host or any(c in host for c in "{}$%<>()*"):
        return None, port
    return host, port


# --------------------------------------------------------------------------- internal run state


@record
class _Launch:
    language: str | None = None
    kind: str = "unknown"  # server | worker | script | oneoff | binary | unknown
    tool: str | None = None
    entry: str | None = None
    modules: list[str] = field(default_factory=list)  # dotted Python modules to start from
    scripts: list[str] = field(default_factory=list)  # Python script paths to start from
    roots: list[str] = field(default_factory=list)  # extra import roots (paths as written)
    scan: bool = False  # the code to read is not known from the command: scan all
    port: int | None = None
    port_what: str = ""
    default_port: int | None = None
    loopback: str | None = None  # note when the server binds loopback by default
    node_entries: list[str] = field(default_factory=list)
    node_script: str | None = None
    go_binary: str | None = None
    clients: dict[str, str] = field(default_factory=dict)  # kind -> why
    urls: list[str] = field(default_factory=list)
    evidence: list[tuple[str, int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    arg_port: int | None = None  # --port N passed to a script/module/console script


class _Stop(Exception):
    """A bound was hit: stop reading."""


class _Run:
    def __init__(self, context: Path, service_names: Iterable[str], max_files: int, max_bytes: int):
        self.ctx = context.resolve()
        self.facts = SourceFacts()
        # hostnames are case-insensitive; evidence names the service as the project spells it
        self.services = {str(s).lower(): str(s) for s in service_names if s}
        self.max_files = max(0, int(max_files))
        self.max_bytes = max(0, int(max_bytes))
        self.files_read = 0
        self.bytes_read = 0
        self.deadline = time.monotonic() + MAX_SECONDS
        self.exhausted = False
        self._ev_seen: set[tuple[str, int, str]] = set()
        self._cache: dict[Path, bytes | None] = {}
        self._resolved: dict[Path, Path | None] = {}
        self.walk_budget = max(2_000, 25 * max(1, self.max_files))
        # collected across files
        self.http_client_evidence: list[tuple[str, int, str]] = []
        self.external_urls: list[tuple[str, int, str]] = []  # (file, line, host) awaiting an HTTP client
        self.uses_fetch = False

    # ----- recording
    def note(self, msg: str) -> None:
        if msg not in self.facts.notes:
            self.facts.notes.append(msg)

    def ev(self, file: str, line: int, what: str) -> None:
        key = (file, line, what)
        if key not in self._ev_seen:
            self._ev_seen.add(key)
            self.facts.evidence.append(Evidence(file, line, what))

    def truncate(self, msg: str) -> None:
        self.facts.truncated = True
        self.note(msg)

    def client(self, kind: str, file: str, line: int, what: str) -> None:
        self.facts.clients.add(kind)
        self.ev(file, line, what)

    def egress(self, file: str, line: int, what: str) -> None:
        self.facts.egress = True
        self.ev(file, line, what)

    def env(self, name: str, file: str, line: int) -> None:
        if not _is_hostish_env(name):
            return
        self.facts.env_hosts.add(name)
        kind = _env_kind(name)
        if kind:
            self.client(kind, file, line, f"reads env {name} ({kind})")
        else:
            self.ev(file, line, f"reads env {name}")

    def host_literal(self, host: str, file: str, line: int) -> str:
        """Classify a literal host: 'service', 'external', 'local' or 'unknown'. Records evidence
        for services; external hosts are recorded by the caller (egress may need a client)."""
        h = host.strip().lower().rstrip(".")
        if not h:
            return "unknown"
        if h in self.services:
            self.ev(file, line, f"refers to service {self.services[h]}")
            return "service"
        if h in ("localhost", "0.0.0.0", "::", "::1", "*", "host.docker.internal", "gateway.docker.internal"):
            return "local"
        try:
            ip = ipaddress.ip_address(h)
        except ValueError:
            ip = None
        if ip is not None:
            return "local" if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified) else "external"
        if h.endswith(_INTERNAL_SUFFIXES) or "." not in h:
            return "local"
        if not _DOMAIN_RE.match(h):
            return "unknown"
        for ign in _IGNORED_HOSTS:
            if h == ign or h.endswith("." + ign):
                return "local"
        return "external"

    def url(self, text: str, file: str, line: int, *, gated: bool = True) -> None:
        """Every scheme://host in ``text``: store kinds, service references, external calls."""
        for m in _URL_RE.finditer(text):
            scheme = m.group(1).lower()
            rest = m.group(2)
            base = scheme.split("+", 1)[0]
            kind = _SCHEME_KINDS.get(scheme) or _SCHEME_KINDS.get(base)
            if scheme.startswith(("sqla+", "db+")):
                inner = scheme.split("+", 1)[1]
                kind = _SCHEME_KINDS.get(inner) or _SCHEME_KINDS.get(inner.split("+", 1)[0])
            host, port = _url_host(rest)
            if kind:
                self.client(kind, file, line, f"connects to {kind} URL {_redact_url(scheme, rest)}")
            elif base not in _WEB_SCHEMES:
                continue
            if host is None:
                continue
            cls = self.host_literal(host, file, line)
            if cls == "external":
                if kind or not gated:
                    self.egress(file, line, f"calls {host}")
                else:
                    self.external_urls.append((file, line, host))

    # ----- reading
    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            self.exhausted = True
            self.facts.time_bound = True
            self.truncate(f"stopped after {MAX_SECONDS:g} s (time bound); facts are partial")
            raise _Stop

    def resolved(self, path: Path) -> Path | None:
        """``path.resolve()``, once per path and run (it costs a system call per folder of
        the path); None when it cannot be resolved."""
        if path in self._resolved:
            return self._resolved[path]
        try:
            rp: Path | None = path.resolve()
        except (OSError, RuntimeError):
            rp = None
        self._resolved[path] = rp
        return rp

    def inside(self, path: Path) -> Path | None:
        rp = self.resolved(path)
        if rp is None:
            return None
        try:
            rp.relative_to(self.ctx)
        except ValueError:
            return None
        return rp

    def rel(self, path: Path) -> str:
        rp = self.resolved(path)
        try:
            if rp is None:
                raise ValueError
            return rp.relative_to(self.ctx).as_posix()
        except ValueError:
            return path.as_posix()

    def read(self, path: Path) -> bytes | None:
        """Bytes of a file inside the context, counted against the bounds; None when it cannot
        or may not be read. Raises _Stop when a bound is hit."""
        rp = self.inside(path)
        if rp is None:
            return None
        if rp in self._cache:
            return self._cache[rp]
        if self.exhausted:
            raise _Stop
        self.check_time()
        try:
            if not rp.is_file():
                self._cache[rp] = None
                return None
            size = rp.stat().st_size
        except OSError:
            self._cache[rp] = None
            return None
        if size > MAX_FILE_BYTES:
            self._cache[rp] = None
            self.truncate(f"skipped {self.rel(rp)}: {size} bytes is over the per-file bound ({MAX_FILE_BYTES})")
            return None
        if self.files_read >= self.max_files:
            self.exhausted = True
            self.truncate(f"stopped after reading {self.files_read} files (max_files={self.max_files}); facts are partial")
            raise _Stop
        if self.bytes_read + size > self.max_bytes:
            self.exhausted = True
            self.truncate(f"stopped after reading {self.bytes_read} bytes (max_bytes={self.max_bytes}); facts are partial")
            raise _Stop
        try:
            with open(rp, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            self._cache[rp] = None
            self.note(f"could not read {self.rel(rp)}: {e.strerror or e}")
            return None
        self.files_read += 1
        self.bytes_read += len(data)
        self._cache[rp] = data
        return data

    def text(self, path: Path) -> str | None:
        data = self.read(path)
        if data is None:
            return None
        return data.decode("utf-8", errors="replace")

    def walk(self, suffixes: tuple[str, ...] = (), names: tuple[str, ...] = (), *, scan: bool = True,
             top: Path | None = None) -> Iterator[Path]:
        """Files under the context, sorted, shallow first per directory; skips virtualenvs,
        VCS and dependency folders (and tests, docs, migrations when ``scan``)."""
        root = top or self.ctx
        stack = [root]
        while stack:
            d = stack.pop(0)
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError:
                continue
            subdirs = []
            for e in entries:
                self.walk_budget -= 1
                if self.walk_budget < 0:
                    self.truncate("stopped walking the context: too many directory entries; facts are partial")
                    return
                try:
                    if e.is_symlink():
                        continue
                    if e.is_dir():
                        n = e.name
                        if n in _SKIP_DIRS or n.endswith(".egg-info") or (scan and n in _SCAN_SKIP_DIRS):
                            continue
                        if os.path.exists(os.path.join(e.path, "pyvenv.cfg")):
                            continue
                        subdirs.append(Path(e.path))
                    elif e.is_file():
                        n = e.name
                        if scan and (n.startswith("test_") or n.endswith(("_test.py", "_test.go")) or n == "conftest.py"
                                     or n.endswith((".test.js", ".spec.js", ".test.ts", ".spec.ts"))):
                            continue
                        if (suffixes and n.endswith(suffixes)) or (names and n in names):
                            yield Path(e.path)
                except OSError:
                    continue
            stack.extend(subdirs)

    def locate(self, path_str: str, base: Path | None = None) -> Path | None:
        """A file named in a command, inside the context: as written relative to ``base`` (or the
        context), else with leading folders stripped (``/app/bot.py`` -> ``bot.py``)."""
        p = path_str.strip().strip("'\"")
        if not p or p.startswith("-"):
            return None
        parts = [x for x in PurePosixPath(p).parts if x not in ("/", ".")]
        if any(x == ".." for x in parts):
            parts = [x for x in parts if x != ".."]
        bases = [b for b in (base, self.ctx) if b is not None]
        for b in bases:
            for i in range(len(parts)):
                cand = b.joinpath(*parts[i:])
                rp = self.inside(cand)
                if rp is not None and rp.is_file():
                    return rp
        if parts and "." in parts[-1]:
            # copied elsewhere by the Dockerfile (COPY docker/entrypoint.sh /): find it by name
            for p in self.walk(names=(parts[-1],), scan=False):
                return p.resolve()
        return None

    def locate_dir(self, path_str: str, base: Path | None = None) -> Path | None:
        p = path_str.strip().strip("'\"")
        parts = [x for x in PurePosixPath(p).parts if x not in ("/", ".", "..")]
        for b in [x for x in (base, self.ctx) if x is not None]:
            for i in range(len(parts) + 1):
                rp = self.inside(b.joinpath(*parts[i:]))
                if rp is not None and rp.is_dir():
                    return rp
        return None


# --------------------------------------------------------------------------- command parsing

_SEPARATORS = {"&&", "||", ";", "|", "&", ";;", "|&"}
_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"}
_PY_RE = re.compile(r"^(?:python|pypy)(?:\d+(?:\.\d+)?)?$")
_ASSIGN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


# shell text -> its simple commands: the same scripts and commands are split for every service
# and compose project that runs them (a fresh copy each time: callers may change theirs)
_SHELL_WORDS: dict[str, tuple[tuple[str, ...], ...]] = {}


def _shell_words(text: str) -> list[list[str]]:
    """Split a shell string into simple commands (on && || ; | &), dropping redirections."""
    got = _SHELL_WORDS.get(text)
    if got is None:
        if len(_SHELL_WORDS) > 4096:
            _SHELL_WORDS.clear()
        got = _SHELL_WORDS[text] = tuple(tuple(seg) for seg in _split_shell_words(text))
    return [list(seg) for seg in got]


def _split_shell_words(text: str) -> list[list[str]]:
    try:
        lex = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
        lex.whitespace_split = True
        lex.commenters = ""
        toks = list(lex)
    except ValueError:
        toks = text.split()
    segs: list[list[str]] = [[]]
    skip_next = False
    for t in toks:
        if skip_next:
            skip_next = False
            continue
        if t in _SEPARATORS:
            segs.append([])
            continue
        if t and set(t) <= set("<>&|"):
            # redirection operator: drop it, its target and a file-descriptor number before it
            if segs[-1] and segs[-1][-1].isdigit():
                segs[-1].pop()
            skip_next = True
            continue
        segs[-1].append(t)
    return [s for s in segs if s]


def _base(tok: str) -> str:
    return tok.rstrip("/").rsplit("/", 1)[-1]


def _opts(args: list[str], value_opts: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Options and positionals. ``--x=v`` and ``-xV`` (short options in value_opts) are split;
    an option in value_opts takes the next word; unknown options are flags."""
    opts: dict[str, list[str]] = {}
    pos: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1:])
            break
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            opts.setdefault(k, []).append(v)
        elif a.startswith("-") and len(a) > 1 and not a.lstrip("-").replace(".", "").isdigit():
            if a in value_opts:
                if i + 1 < len(args):
                    opts.setdefault(a, []).append(args[i + 1])
                    i += 1
                else:
                    opts.setdefault(a, []).append("")
            elif not a.startswith("--") and len(a) > 2 and a[:2] in value_opts:
                v = a[2:]
                opts.setdefault(a[:2], []).append(v[1:] if v.startswith("=") else v)
            else:
                opts.setdefault(a, []).append("")
        else:
            pos.append(a)
        i += 1
    return opts, pos


def _first(opts: dict[str, list[str]], *names: str) -> str | None:
    for n in names:
        if n in opts and opts[n]:
            return opts[n][-1]
    return None


def _port_value(text: str | None) -> tuple[int | None, str]:
    """Port from '8000', ':8000', '0.0.0.0:8000', '${PORT:-8000}', '[::]:8000'; (port, how)."""
    if text is None:
        return None, ""
    t = text.strip().strip("'\"")
    m = re.fullmatch(r"\$\{?[A-Za-z_]\w*(?::?-([0-9]+))?\}?", t)
    if m:
        return (int(m.group(1)), "env default") if m.group(1) else (None, "env")
    m = re.search(r"\$\{[A-Za-z_]\w*:?-([0-9]+)\}$", t)
    if m:
        return int(m.group(1)), "env default"
    if t.startswith("unix:") or t.startswith("fd://"):
        return None, "socket"
    m = re.search(r"(?:^|:)(\d{1,5})$", t)
    if m and 0 < int(m.group(1)) < 65536:
        return int(m.group(1)), ""
    return None, ""


def _bind_host(text: str | None) -> str | None:
    if text is None:
        return None
    t = text.strip().strip("'\"")
    if t.startswith("["):
        return t[1:].split("]", 1)[0]
    if ":" in t:
        return t.rsplit(":", 1)[0]
    return None if t.isdigit() else t


_UVICORN_VALUES = {
    "--host", "--port", "--uds", "--fd", "--workers", "--loop", "--http", "--ws", "--lifespan", "--interface",
    "--env-file", "--log-config", "--log-level", "--root-path", "--limit-concurrency", "--backlog",
    "--limit-max-requests", "--timeout-keep-alive", "--timeout-graceful-shutdown", "--ssl-keyfile",
    "--ssl-certfile", "--ssl-keyfile-password", "--ssl-version", "--ssl-cert-reqs", "--ssl-ca-certs",
    "--ssl-ciphers", "--header", "--forwarded-allow-ips", "--app-dir", "--reload-dir", "--reload-include",
    "--reload-exclude", "--reload-delay", "--ws-max-size", "--ws-max-queue", "--ws-ping-interval",
    "--ws-ping-timeout", "--ws-per-message-deflate", "--h11-max-incomplete-event-size",
}
_GUNICORN_VALUES = {
    "-b", "--bind", "-w", "--workers", "-k", "--worker-class", "-c", "--config", "-t", "--timeout", "--threads",
    "--log-level", "--access-logfile", "--error-logfile", "--log-file", "-e", "--env", "--chdir", "--pythonpath",
    "-u", "--user", "-g", "--group", "--max-requests", "--max-requests-jitter", "--keep-alive",
    "--graceful-timeout", "-n", "--name", "--certfile", "--keyfile", "--ca-certs", "--forwarded-allow-ips",
    "--worker-connections", "--limit-request-line", "--limit-request-fields", "--limit-request-field_size",
    "--backlog", "--log-config", "--statsd-host", "-p", "--pid", "--worker-tmp-dir", "--access-logformat",
    "--umask", "-m", "--paste", "--proxy-allow-from", "--logger-class", "--log-syslog-to", "--insecure-bind",
    "--quic-bind", "--read-timeout", "--root-path", "--statsd-prefix", "--dogstatsd-tags",
}
_DAPHNE_VALUES = {"-b", "--bind", "-p", "--port", "-u", "--unix-socket", "--fd", "-e", "--endpoint", "-v",
                  "--verbosity", "-t", "--http-timeout", "--access-log", "--root-path", "--websocket_timeout",
                  "--websocket_connect_timeout", "--application-close-timeout", "--ping-interval", "--ping-timeout",
                  "--proxy-headers-host", "--proxy-headers-port"}
_GRANIAN_VALUES = {"--host", "--port", "--interface", "--workers", "--threads", "--loop", "--http",
                   "--blocking-threads", "--backlog", "--log-level", "--ssl-keyfile", "--ssl-certificate",
                   "--url-path-prefix", "--respawn-interval", "--working-dir", "--threading-mode", "--opt"}
_CELERY_VALUES = {"-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir",
                  "-l", "--loglevel", "-c", "--concurrency", "-Q", "--queues", "-n", "--hostname", "-P", "--pool",
                  "--port", "--address", "-s", "--schedule", "-S", "--scheduler", "--logfile", "-f", "--pidfile",
                  "--uid", "--gid", "-E", "--max-tasks-per-child", "--prefetch-multiplier", "-O", "--autoscale",
                  "--time-limit", "--soft-time-limit", "-X", "--exclude-queues", "--max-memory-per-child"}
_PY_TOOLS = {"uvicorn", "gunicorn", "hypercorn", "daphne", "granian", "waitress-serve", "uwsgi", "celery",
             "flask", "fastapi", "django-admin", "rq", "rqworker", "dramatiq", "arq", "huey_consumer",
             "huey_consumer.py", "streamlit", "sanic", "alembic", "pip", "pip3", "pytest", "taskiq"}
_WRAPPERS = {"exec", "nohup", "time", "tini", "dumb-init", "catatonit", "ddtrace-run", "opentelemetry-instrument",
             "stdbuf", "setsid", "chpst", "s6-setuidgid", "cross-env"}


def _arg_port(args: list[str]) -> int | None:
    """``--port N`` / ``--port=N`` / ``-p N`` among a script's own arguments."""
    for i, a in enumerate(args):
        val = None
        if a in ("--port", "-p", "--http-port") and i + 1 < len(args):
            val = args[i + 1]
        elif a.startswith(("--port=", "--http-port=")):
            val = a.split("=", 1)[1]
        if val is not None:
            port, _ = _port_value(val)
            if port:
                return port
    return None


def _module_of_target(target: str) -> str:
    """'app.main:app' -> 'app.main'; 'proj.wsgi' -> 'proj.wsgi'; 'app:create_app()' -> 'app'."""
    return target.split(":", 1)[0].strip()


class _Commands:
    """Turn a command into a _Launch."""

    def __init__(self, run: _Run):
        self.run = run

    # ---------------------------------------------------------------- entry
    def launch(self, command: list[str] | str | None) -> _Launch | None:
        if command is None:
            return None
        if isinstance(command, str):
            if not command.strip():
                return None
            segs = [(s, COMMAND_FILE, 0) for s in _shell_words(command)]
        else:
            toks = [str(t) for t in command]
            if not toks:
                return None
            if len(toks) == 1 and " " in toks[0].strip():
                self.run.note(f"exec-form command {toks[0]!r} is one word with spaces: read as a shell string")
                segs = [(s, COMMAND_FILE, 0) for s in _shell_words(toks[0])]
            else:
                segs = [(toks, COMMAND_FILE, 0)]
        return self.pick(segs, self.run.ctx, 0)

    _RANK = {"server": 3, "worker": 3, "script": 3, "binary": 2, "unknown": 1, "oneoff": 0}

    def pick(self, segs: list[tuple[list[str], str, int]], cwd: Path, depth: int) -> _Launch | None:
        """The launch of the last long-running segment: servers, workers and scripts win over
        unknown programs, which win over one-offs (migrate, echo, ...)."""
        best: _Launch | None = None
        for toks, file, line in segs:
            if toks and toks[0] == "cd" and len(toks) >= 2:
                d = self.run.locate_dir(toks[1], cwd)
                if d is not None:
                    cwd = d
                continue
            got = self.classify(toks, file, line, cwd, depth)
            if got is None:
                continue
            if cwd != self.run.ctx:
                got.roots.insert(0, str(cwd))
            if best is None or self._RANK.get(got.kind, 1) >= self._RANK.get(best.kind, 1):
                best = got
        return best

    # ---------------------------------------------------------------- unwrap
    def unwrap(self, toks: list[str]) -> list[str]:
        toks = list(toks)
        for _ in range(12):
            while toks and _ASSIGN_RE.match(toks[0]):
                toks.pop(0)
            if not toks:
                return toks
            b = _base(toks[0])
            if b == "env":
                toks.pop(0)
                while toks and (toks[0].startswith("-") or _ASSIGN_RE.match(toks[0])):
                    if toks[0] in ("-u", "--unset", "-C", "--chdir") and len(toks) > 1:
                        toks.pop(0)
                    toks.pop(0)
                continue
            if b in _WRAPPERS:
                toks.pop(0)
                while toks and toks[0].startswith("-"):
                    stop = toks[0] == "--"
                    toks.pop(0)
                    if stop:
                        break
                continue
            if b in ("gosu", "su-exec"):
                toks = toks[2:]
                continue
            if b == "newrelic-admin" and len(toks) > 1 and toks[1] == "run-program":
                toks = toks[2:]
                continue
            if b in ("poetry", "pipenv", "pdm", "hatch", "rye", "uv") and len(toks) > 1 and toks[1] == "run":
                toks = toks[2:]
                while toks and toks[0].startswith("-"):
                    if toks[0] in ("--with", "--python", "-p", "--env-file", "--project", "--directory",
                                   "--extra", "--group", "--package", "-e", "--env"):
                        toks.pop(0)
                    toks.pop(0)
                continue
            if b == "doppler" and "--" in toks:
                toks = toks[toks.index("--") + 1:]
                continue
            if b.startswith(("wait-for", "wait_for")) or b == "dockerize":
                if "--" in toks:
                    toks = toks[toks.index("--") + 1:]
                    continue
                if b == "dockerize":
                    rest = toks[1:]
                    while rest and rest[0].startswith("-"):
                        rest = rest[2:] if len(rest) > 1 and not rest[1].startswith("-") else rest[1:]
                    toks = rest
                    continue
                return []
            return toks
        return toks

    # ---------------------------------------------------------------- classify
    def classify(self, toks: list[str], file: str, line: int, cwd: Path, depth: int) -> _Launch | None:
        toks = self.unwrap(toks)
        if not toks:
            return None
        prog = toks[0]
        b = _base(prog)
        args = toks[1:]
        shown = " ".join(toks)[:160]

        # sh -c "..."
        if b in _SHELLS:
            rest = args[1:] if b == "busybox" and args and args[0] in _SHELLS else args
            opts = [a for a in rest if a.startswith("-")]
            if any("c" in o.lstrip("-") for o in opts if not o.startswith("--")):
                idx = next(i for i, a in enumerate(rest) if a.startswith("-") and not a.startswith("--") and "c" in a)
                if idx + 1 < len(rest):
                    inner = rest[idx + 1]
                    return self.pick([(s, file, line) for s in _shell_words(inner)], cwd, depth + 1)
                return None
            rest = [a for a in rest if not a.startswith("-")]
            if rest:
                return self.script(rest[0], rest[1:], file, line, cwd, depth)
            return None

        # an executable shell script in the context
        loc = self.run.locate(prog, cwd) if ("/" in prog or prog.endswith(".sh")) else None
        if loc is not None and not loc.name.endswith((".py", ".js", ".mjs", ".cjs", ".ts")):
            data = self.run.read(loc)
            if data is not None and (loc.name.endswith(".sh") or re.match(rb"#!\s*\S*(?:/|env\s+)(?:ba|da|a|z|k)?sh\b", data)):
                return self.script(prog, args, file, line, cwd, depth)

        # python interpreters
        if _PY_RE.match(b):
            i = 0
            while i < len(args) and args[i].startswith("-") and args[i] not in ("-m", "-c"):
                if args[i] in ("-X", "-W", "-Q"):
                    i += 1
                i += 1
            rest = args[i:]
            if not rest:
                return _Launch(language="python", kind="unknown", entry=None)
            if rest[0] == "-c":
                return _Launch(language="python", kind="oneoff", entry=None)
            if rest[0] == "-m":
                if len(rest) < 2:
                    return None
                mod = rest[1]
                if mod in _PY_TOOLS or mod == "django" or mod == "http.server":
                    return self.py_tool("django-admin" if mod == "django" else mod, rest[2:], file, line, cwd,
                                        shown=shown)
                la = _Launch(language="python", kind="script", entry=f"python -m {mod}", modules=[mod],
                             arg_port=_arg_port(rest[2:]))
                la.evidence.append((file, line, f"runs python -m {mod}"))
                if mod.split(".")[0] in ("pip", "alembic", "pytest", "unittest", "compileall", "venv"):
                    la.kind = "oneoff"
                return la
            return self.py_script(rest[0], rest[1:], file, line, cwd)

        if b in _PY_TOOLS:
            return self.py_tool(b, args, file, line, cwd, shown=shown)
        if b == "manage.py":
            return self.django(prog, args, file, line, cwd)
        if b.endswith(".py"):
            return self.py_script(prog, args, file, line, cwd)

        # node
        node = self.node(b, args, file, line, cwd, depth)
        if node is not None:
            return node

        script = self.console_script(b)
        if script is not None:
            mod, _, func = script.partition(":")
            la = _Launch(language="python", kind="script", entry=f"{b} ({script})", modules=[mod.strip()],
                         arg_port=_arg_port(args))
            la.evidence.append((file, line, f"runs console script {b} = {script}"))
            return la
        if b in ("cd", "echo", "printf", "sleep", "set", "export", "true", "false", "mkdir", "chown", "chmod", "cp",
                 "mv", "rm", "ln", "cat", "test", "[", "[[", "trap", "ulimit", "umask", "source", ".", "if", "then",
                 "else", "elif", "fi", "for", "while", "do", "done", "case", "esac", "function", "{", "}", "return",
                 "exit", "shift", "wait", "local", "read", "touch", "until", "alembic", "pip", "apt-get", "apk",
                 "curl", "wget", "envsubst", "sed", "nginx", "crond", "supervisord", "tail", "python3-config"):
            return _Launch(kind="oneoff")
        return _Launch(kind="binary", go_binary=prog, evidence=[(file, line, f"runs {shown}")])

    def console_script(self, name: str) -> str | None:
        """'module:function' of a console script the project declares ([project.scripts],
        [tool.poetry.scripts] in pyproject.toml; console_scripts in setup.cfg/setup.py)."""
        if not hasattr(self, "_console"):
            self._console: dict[str, str] = {}
            pyproject = self.run.ctx / "pyproject.toml"
            text = self.run.text(pyproject) if pyproject.is_file() else None
            if text:
                try:
                    import tomllib

                    data = tomllib.loads(text)
                except (ValueError, ImportError):
                    data = {}
                for table in (data.get("project", {}).get("scripts"),
                              data.get("tool", {}).get("poetry", {}).get("scripts")):
                    if isinstance(table, dict):
                        for k, v in table.items():
                            if isinstance(v, str) and ":" in v:
                                self._console.setdefault(str(k), v.strip())
            for fname in ("setup.cfg", "setup.py"):
                p = self.run.ctx / fname
                t = self.run.text(p) if p.is_file() else None
                if t and "console_scripts" in t:
                    for m in re.finditer(r"([A-Za-z0-9_.\-]+)\s*=\s*([A-Za-z_][\w.]*:[A-Za-z_][\w.]*)", t):
                        self._console.setdefault(m.group(1), m.group(2))
        return self._console.get(name)

    def script(self, prog: str, args: list[str], file: str, line: int, cwd: Path, depth: int) -> _Launch | None:
        """A shell script: its arguments when it ends with exec "$@", else the commands it runs."""
        loc = self.run.locate(prog, cwd)
        if loc is None or depth >= _MAX_SCRIPT_DEPTH:
            if args:
                return self.pick([(args, file, line)], cwd, depth + 1)
            return None
        text = self.run.text(loc)
        if text is None:
            return self.pick([(args, file, line)], cwd, depth + 1) if args else None
        rel = self.run.rel(loc)
        passes_args = bool(re.search(r'"\$@"|\$@|\$\*', text))
        inner = None
        if args and passes_args:
            inner = self.pick([(args, file, line)], cwd, depth + 1)
            if inner is not None and inner.kind not in ("unknown", "oneoff", "binary"):
                inner.evidence.append((rel, 1, f"entrypoint script {rel} runs its arguments"))
                return inner
        # read the script's own lines
        segs: list[tuple[list[str], str, int]] = []
        lines = text.splitlines()
        i = 0
        while i < len(lines):
            start = i
            cur = lines[i]
            while cur.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                cur = cur.rstrip()[:-1] + " " + lines[i]
            i += 1
            s = cur.strip()
            if not s or s.startswith("#"):
                continue
            if re.match(r"^(if|then|else|elif|fi|for|while|do|done|case|esac|function)\b|^\w+\s*\(\)\s*\{?$|^[{}]$", s):
                s = re.sub(r"^(if|then|else|elif|do|while)\s+", "", s)
                if re.match(r"^(fi|done|esac|else|then|do)\b|^[{}]$", s):
                    continue
            if '"$@"' in s or s in ("exec $@", "exec $*"):
                continue
            for seg in _shell_words(s):
                segs.append((seg, rel, start + 1))
        got = self.pick(segs, cwd, depth + 1)
        if got is not None and got.kind not in ("unknown",):
            return got
        return inner or got

    # ---------------------------------------------------------------- python
    def py_script(self, path: str, args: list[str], file: str, line: int, cwd: Path) -> _Launch:
        if _base(path) == "manage.py":
            return self.django(path, args, file, line, cwd)
        loc = self.run.locate(path, cwd)
        rel = self.run.rel(loc) if loc else path.lstrip("./")
        la = _Launch(language="python", kind="script", entry=rel, scripts=[str(loc) if loc else path],
                     arg_port=_arg_port(args))
        la.evidence.append((file, line, f"runs python {rel}"))
        return la

    def django(self, prog: str, args: list[str], file: str, line: int, cwd: Path) -> _Launch:
        opts, pos = _opts(args, {"--settings", "--pythonpath", "-v", "--verbosity"})
        sub = pos[0] if pos else ""
        loc = self.run.locate(prog, cwd) if prog.endswith(".py") else None
        la = _Launch(language="python", tool="django", entry=f"manage.py {sub}".strip())
        if loc is not None:
            la.scripts.append(str(loc))
        settings = _first(opts, "--settings")
        if settings:
            la.modules.append(settings)
        if sub in ("runserver", "runserver_plus", "runsslserver", "runmodwsgi"):
            la.kind = "server"
            addr = pos[1] if len(pos) > 1 else None
            port, how = _port_value(addr)
            host = _bind_host(addr) if addr and not addr.isdigit() else None
            la.port, la.port_what = (port, how) if port else (None, how)
            la.default_port = 8000
            if not host or host in ("127.0.0.1", "localhost"):
                la.loopback = "manage.py runserver listens on 127.0.0.1 unless given 0.0.0.0:PORT: other containers cannot reach it"
            la.evidence.append((file, line, f"runs manage.py {sub}"))
        elif sub in ("celery", "rqworker", "qcluster", "process_tasks", "runworker", "celeryd", "huey_consumer",
                     "run_huey", "rundramatiq"):
            la.kind = "worker"
            if sub == "rqworker":
                la.clients["redis"] = "manage.py rqworker (rq uses redis)"
            la.evidence.append((file, line, f"runs manage.py {sub}"))
        elif sub in ("migrate", "collectstatic", "makemigrations", "createsuperuser", "check", "shell", "test",
                     "compilemessages", "loaddata", "dumpdata", "flush", "wait_for_db", "createcachetable",
                     "showmigrations", "sqlmigrate", "dbshell", "") or sub.startswith("-"):
            la.kind = "oneoff"
        else:
            # a custom management command: management/commands/<sub>.py
            la.kind = "script"
            for p in self.run.walk(names=(f"{sub}.py",), scan=False):
                if p.parent.name == "commands" and p.parent.parent.name == "management":
                    la.scripts.append(str(p))
                    break
            la.evidence.append((file, line, f"runs manage.py {sub}"))
        return la

    def py_tool(self, tool: str, args: list[str], file: str, line: int, cwd: Path, *, shown: str) -> _Launch:
        tool = tool.replace(".py", "")
        la = _Launch(language="python", tool=tool)
        ev = lambda what: la.evidence.append((file, line, what))  # noqa: E731

        def target_of(pos: list[str]) -> str | None:
            for p in pos:
                if ":" in p and _DOTTED_RE.match(p.split("(")[0] if "(" in p else p):
                    return p
            for p in pos:
                if _DOTTED_RE.match(p) and not p.isdigit():
                    return p
            return None

        if tool in ("uvicorn", "hypercorn", "granian", "sanic", "daphne"):
            values = {"uvicorn": _UVICORN_VALUES, "hypercorn": _GUNICORN_VALUES, "granian": _GRANIAN_VALUES,
                      "daphne": _DAPHNE_VALUES, "sanic": {"--host", "-H", "--port", "-p", "--workers", "-w",
                                                         "--cert", "--key", "--unix", "-u"}}[tool]
            opts, pos = _opts(args, values)
            target = target_of(pos)
            la.kind = "server"
            la.entry = f"{target} ({tool})" if target else tool
            if target:
                la.modules.append(_module_of_target(target))
            if tool == "hypercorn":
                bind = _first(opts, "-b", "--bind")
                la.port, la.port_what = _port_value(bind)
                host = _bind_host(bind)
            elif tool == "daphne":
                la.port, la.port_what = _port_value(_first(opts, "-p", "--port"))
                host = _first(opts, "-b", "--bind")
                if _first(opts, "-u", "--unix-socket", "--fd"):
                    la.port_what = "socket"
            else:
                la.port, la.port_what = _port_value(_first(opts, "--port", "-p"))
                host = _first(opts, "--host", "-H")
                if _first(opts, "--uds", "--fd", "--unix", "-u"):
                    la.port_what = "socket"
            for d in opts.get("--app-dir", []) + opts.get("--working-dir", []):
                la.roots.append(d)
            la.default_port = 8000
            if host is None or host in ("127.0.0.1", "localhost"):
                la.loopback = f"{tool} listens on 127.0.0.1 by default: other containers cannot reach it (pass --host 0.0.0.0)"
            ev(f"runs {tool}" + (f" {target}" if target else ""))
        elif tool == "gunicorn":
            opts, pos = _opts(args, _GUNICORN_VALUES)
            target = target_of(pos)
            if _first(opts, "--paste"):
                target = None
            la.kind = "server"
            la.entry = f"{target} (gunicorn)" if target else "gunicorn"
            if target:
                la.modules.append(_module_of_target(target))
            binds = [b for b in opts.get("-b", []) + opts.get("--bind", []) if b]
            conf = _first(opts, "-c", "--config")
            chdir = _first(opts, "--chdir")
            base = self.run.locate_dir(chdir, cwd) if chdir else cwd
            if chdir:
                la.roots.append(str(base) if base else chdir)
            for pp in opts.get("--pythonpath", []):
                la.roots.extend(x for x in pp.split(",") if x)
            if not binds:
                binds = self.gunicorn_conf(conf, base or cwd, la)
            if binds:
                la.port, la.port_what = _port_value(binds[0])
                host = _bind_host(binds[0])
                if host in ("127.0.0.1", "localhost"):
                    la.loopback = "gunicorn binds 127.0.0.1: other containers cannot reach it"
            else:
                la.default_port = 8000
                la.loopback = ("gunicorn without --bind listens on 127.0.0.1:8000: other containers cannot reach it "
                               "(unless GUNICORN_CMD_ARGS or a config file sets bind)")
            ev("runs gunicorn" + (f" {target}" if target else ""))
        elif tool == "waitress-serve":
            opts, pos = _opts(args, {"--host", "--port", "--listen", "--threads", "--url-scheme", "--ident",
                                     "--unix-socket", "--url-prefix", "--backlog", "--channel-timeout"})
            target = target_of(pos)
            la.kind = "server"
            la.entry = f"{target} (waitress)" if target else "waitress-serve"
            if target:
                la.modules.append(_module_of_target(target))
            la.port, la.port_what = _port_value(_first(opts, "--port") or _first(opts, "--listen"))
            la.default_port = 8080
            ev("runs waitress-serve" + (f" {target}" if target else ""))
        elif tool == "uwsgi":
            opts, pos = _opts(args, {"--http", "--http-socket", "--socket", "-s", "--module", "-w", "--wsgi-file",
                                     "--chdir", "--ini", "--processes", "-p", "--threads", "--master-fifo",
                                     "--callable", "--uid", "--gid", "--static-map", "--buffer-size", "--harakiri"})
            la.kind = "server"
            mod = _first(opts, "--module", "-w")
            wfile = _first(opts, "--wsgi-file")
            if mod:
                la.modules.append(_module_of_target(mod))
            if wfile:
                loc = self.run.locate(wfile, cwd)
                if loc:
                    la.scripts.append(str(loc))
            la.entry = f"{mod or wfile} (uwsgi)" if (mod or wfile) else "uwsgi"
            addr = _first(opts, "--http", "--http-socket", "--socket", "-s")
            la.port, la.port_what = _port_value(addr)
            if _first(opts, "--socket", "-s") and not _first(opts, "--http", "--http-socket"):
                la.notes.append("uwsgi --socket speaks the uwsgi protocol, not HTTP: a proxy must sit in front")
            ev("runs uwsgi")
        elif tool == "celery":
            opts, pos = _opts(args, _CELERY_VALUES)
            app = _first(opts, "-A", "--app")
            sub = next((p for p in pos if p in ("worker", "beat", "flower", "multi", "events", "call", "inspect",
                                                "status", "purge", "shell", "control", "result", "graph",
                                                "upgrade", "report", "amqp", "migrate", "list")), pos[0] if pos else "")
            la.entry = f"celery {sub} -A {app}".strip() if app else f"celery {sub}".strip()
            if app:
                mod = _module_of_target(app)
                la.modules.append(mod)
                la.modules.append(mod + ".celery")
            wd = _first(opts, "--workdir")
            if wd:
                la.roots.append(wd)
            broker = _first(opts, "-b", "--broker")
            if broker:
                la.urls.append(broker)
            if sub == "flower":
                la.kind = "server"
                la.port, la.port_what = _port_value(_first(opts, "--port"))
                la.default_port = 5555
            elif sub in ("worker", "beat", "multi", "events"):
                la.kind = "worker"
            else:
                la.kind = "oneoff"
            ev(f"runs celery {sub}" + (f" -A {app}" if app else ""))
        elif tool == "flask":
            opts, pos = _opts(args, {"--app", "-A", "--env-file", "-e", "--host", "-h", "--port", "-p", "--cert",
                                     "--key", "--extra-files", "--exclude-patterns"})
            app = _first(opts, "--app", "-A")
            sub = pos[0] if pos else ""
            if sub != "run":
                la.kind = "oneoff"
                return la
            la.kind = "server"
            if app:
                if app.endswith(".py"):
                    loc = self.run.locate(app, cwd)
                    if loc:
                        la.scripts.append(str(loc))
                else:
                    la.modules.append(_module_of_target(app))
                la.entry = f"{app} (flask run)"
            else:
                for cand in ("wsgi.py", "app.py"):
                    loc = self.run.locate(cand, cwd)
                    if loc is not None and loc.parent == cwd:
                        la.scripts.append(str(loc))
                        la.entry = f"{cand} (flask run)"
                        break
                else:
                    la.entry = "flask run"
                    la.scan = True
                    la.notes.append("flask run without --app: the app comes from FLASK_APP, unknown here")
            la.port, la.port_what = _port_value(_first(opts, "--port", "-p"))
            la.default_port = 5000
            host = _first(opts, "--host", "-h")
            if host is None or host in ("127.0.0.1", "localhost"):
                la.loopback = "flask run listens on 127.0.0.1 unless given --host 0.0.0.0 (or FLASK_RUN_HOST): other containers cannot reach it"
            ev("runs flask run")
        elif tool == "fastapi":
            opts, pos = _opts(args, {"--host", "--port", "--app", "--root-path", "--workers", "--entrypoint", "-e",
                                     "--proxy-headers"})
            sub = pos[0] if pos else ""
            if sub not in ("run", "dev"):
                la.kind = "oneoff"
                return la
            la.kind = "server"
            path = pos[1] if len(pos) > 1 else None
            if path is None:
                for cand in ("main.py", "app.py", "api.py", "app/main.py", "app/app.py", "app/api.py"):
                    if (cwd / cand).is_file():
                        path = cand
                        break
            if path:
                loc = self.run.locate(path, cwd)
                if loc is not None:
                    la.scripts.append(str(loc))
                    path = self.run.rel(loc)
            la.entry = f"{path} (fastapi {sub})" if path else f"fastapi {sub}"
            la.port, la.port_what = _port_value(_first(opts, "--port"))
            la.default_port = 8000
            host = _first(opts, "--host")
            if (sub == "dev" and host is None) or host in ("127.0.0.1", "localhost"):
                la.loopback = "fastapi dev listens on 127.0.0.1: other containers cannot reach it"
            ev(f"runs fastapi {sub}")
        elif tool == "django-admin":
            return self.django("django-admin", args, file, line, cwd)
        elif tool == "streamlit":
            opts, pos = _opts(args, {"--server.port", "--server.address"})
            la.kind = "server" if pos[:1] == ["run"] else "oneoff"
            if len(pos) > 1:
                loc = self.run.locate(pos[1], cwd)
                if loc:
                    la.scripts.append(str(loc))
                la.entry = f"{pos[1]} (streamlit)"
            la.port, la.port_what = _port_value(_first(opts, "--server.port"))
            la.default_port = 8501
            ev("runs streamlit")
        elif tool in ("rq", "rqworker"):
            opts, pos = _opts(args, {"-u", "--url", "-c", "--config", "-w", "--worker-class", "-n", "--name",
                                     "-P", "--path", "--logging_level", "-j", "--job-class", "-q", "--queue-class"})
            la.kind = "worker" if tool == "rqworker" or (pos and pos[0] in ("worker", "worker-pool")) else "oneoff"
            la.entry = "rq worker"
            la.clients["redis"] = "runs rq (rq uses redis)"
            url = _first(opts, "-u", "--url")
            if url:
                la.urls.append(url)
            cfg = _first(opts, "-c", "--config")
            if cfg:
                la.modules.append(cfg)
            la.scan = not cfg
            if la.scan:
                la.notes.append("rq imports job functions by name at run time: scanned every Python file")
            for p in opts.get("-P", []) + opts.get("--path", []):
                la.roots.append(p)
            ev("runs rq worker")
        elif tool in ("dramatiq", "arq", "huey_consumer", "taskiq"):
            values = {"-p", "--processes", "-t", "--threads", "-Q", "--queues", "--path", "-P", "-w", "--workers",
                      "-k", "--worker-type", "--watch", "--pid-file", "--log-file", "--broker"}
            opts, pos = _opts(args, values)
            if tool == "taskiq":
                pos = pos[1:] if pos and pos[0] == "worker" else pos
            la.kind = "worker"
            mods = [_module_of_target(p.rsplit(".", 1)[0] if tool in ("arq", "huey_consumer") and "." in p and ":" not in p else p)
                    for p in pos if _DOTTED_RE.match(p)]
            la.modules.extend(mods)
            la.entry = f"{tool} {' '.join(pos)}".strip()
            if tool == "arq":
                la.clients["redis"] = "runs arq (arq uses redis)"
            ev(f"runs {tool}")
        elif tool == "http.server":
            opts, pos = _opts(args, {"-b", "--bind", "-d", "--directory", "--protocol", "-p"})
            la.kind = "server"
            la.entry = "python -m http.server"
            la.port, la.port_what = _port_value(pos[0] if pos else None)
            la.default_port = 8000
            ev("runs python -m http.server")
        else:  # alembic, pip, pytest
            la.kind = "oneoff"
        return la

    def gunicorn_conf(self, conf: str | None, base: Path, la: _Launch) -> list[str]:
        """bind from gunicorn.conf.py (read by default from the working directory) or -c FILE."""
        path = None
        if conf and not conf.startswith("python:"):
            path = self.run.locate(conf.replace("file:", ""), base)
        elif conf is None:
            cand = base / "gunicorn.conf.py"
            path = cand if cand.is_file() else None
        if path is None:
            return []
        text = self.run.text(path) or ""
        for i, ln in enumerate(text.splitlines(), 1):
            m = re.match(r"\s*bind\s*=\s*\[?\s*['\"]([^'\"]+)['\"]", ln)
            if m:
                la.evidence.append((self.run.rel(path), i, f"gunicorn bind {m.group(1)}"))
                return [m.group(1)]
            m = re.match(r"\s*bind\s*=.*getenv\(\s*['\"][A-Z_]+['\"]\s*,\s*['\"]([^'\"]+)['\"]", ln)
            if m:
                la.evidence.append((self.run.rel(path), i, f"gunicorn bind {m.group(1)} (env default)"))
                return [m.group(1)]
            # bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"  (an f-string with env defaults)
            m = re.match(r"\s*bind\s*=\s*\[?\s*f(['\"])(.*)\1\s*\]?\s*(?:#.*)?$", ln)
            if m:
                value = re.sub(r"\{[^{}]*?(?:getenv|environ\.get)\(\s*['\"][A-Za-z_][A-Za-z0-9_]*['\"]\s*,\s*['\"]?([^'\")]+?)['\"]?\s*\)[^{}]*\}",
                               r"\1", m.group(2))
                if "{" not in value and value:
                    la.evidence.append((self.run.rel(path), i, f"gunicorn bind {value} (env default)"))
                    return [value]
        return []

    # ---------------------------------------------------------------- node
    def node(self, b: str, args: list[str], file: str, line: int, cwd: Path, depth: int) -> _Launch | None:
        if b in ("node", "nodejs", "nodemon", "ts-node", "tsx", "ts-node-dev", "babel-node", "node-dev", "bun", "deno"):
            values = {"-r", "--require", "--import", "--loader", "--experimental-loader", "--env-file", "--inspect-port",
                      "--watch-path", "-e", "--eval", "--exec", "-x", "--watch", "-w", "--ext", "--config"}
            opts, pos = _opts(args, values)
            if _first(opts, "-e", "--eval") is not None and not pos:
                return _Launch(language="node", kind="oneoff")
            if b in ("bun", "deno") and pos and pos[0] in ("run", "start"):
                pos = pos[1:]
            if not pos:
                pos = ["."] if b == "nodemon" else []
            if not pos:
                return _Launch(language="node", kind="unknown")
            la = _Launch(language="node", kind="script", entry=pos[0], node_entries=[pos[0]])
            la.evidence.append((file, line, f"runs {b} {pos[0]}"))
            return la
        if b in ("npm", "pnpm", "yarn", "bun") and args:
            sub = args[0]
            name = None
            if sub in ("start", "dev", "serve"):
                name = sub
            elif sub in ("run", "run-script") and len(args) > 1:
                name = next((a for a in args[1:] if not a.startswith("-")), None)
            elif b == "yarn" and not sub.startswith("-"):
                name = sub
            if name is None:
                return _Launch(language="node", kind="oneoff")
            return self.npm_script(name, file, line, cwd, depth)
        if b in ("npx", "pnpx") and args:
            rest = [a for a in args if a not in ("--yes", "-y", "--no-install")]
            return self.classify(rest, file, line, cwd, depth + 1) if rest else None
        if b in ("next", "nuxt", "nuxi", "react-scripts", "vite", "serve", "nest", "remix-serve"):
            opts, pos = _opts(args, {"-p", "--port", "-H", "--hostname", "-l", "--listen"})
            la = _Launch(language="node", kind="server", tool=b)
            la.port, la.port_what = _port_value(_first(opts, "-p", "--port", "-l", "--listen"))
            la.default_port = {"next": 3000, "nuxt": 3000, "nuxi": 3000, "react-scripts": 3000, "serve": 3000,
                               "vite": 4173 if pos[:1] == ["preview"] else 5173, "nest": 3000,
                               "remix-serve": 3000}[b]
            la.entry = f"{b} {' '.join(pos)}".strip()
            if b == "nest":
                la.node_entries = ["src/main.ts", "dist/main.js"]
            if b == "next" and pos[:1] == ["build"] or b == "vite" and pos[:1] == ["build"]:
                la.kind = "oneoff"
            la.evidence.append((file, line, f"runs {la.entry}"))
            return la
        if b in ("pm2-runtime", "pm2"):
            pos = [a for a in args if not a.startswith("-") and a not in ("start",)]
            if pos and not pos[0].startswith("ecosystem"):
                la = _Launch(language="node", kind="script", entry=pos[0], node_entries=[pos[0]])
                la.evidence.append((file, line, f"runs {b} {pos[0]}"))
                return la
            return _Launch(language="node", kind="unknown")
        return None

    def npm_script(self, name: str, file: str, line: int, cwd: Path, depth: int) -> _Launch | None:
        pkg = cwd / "package.json"
        if not pkg.is_file():
            pkg = self.run.ctx / "package.json"
        text = self.run.text(pkg) if pkg.is_file() else None
        data: dict[str, Any] = {}
        if text:
            try:
                loaded = json.loads(text)
                data = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                self.run.note("package.json is not valid JSON: skipped")
        scripts = data.get("scripts") if isinstance(data.get("scripts"), dict) else {}
        script = scripts.get(name) if isinstance(scripts, dict) else None
        rel = self.run.rel(pkg)
        if not isinstance(script, str):
            if name == "start":
                script = "node server.js"  # npm's default
            else:
                return _Launch(language="node", kind="unknown")
        lineno = _line_of(text or "", f'"{name}"') if text else 0
        if depth >= _MAX_SCRIPT_DEPTH:
            return None
        segs = [(s, rel, lineno) for s in _shell_words(script)]
        got = self.pick(segs, pkg.parent, depth + 1)
        if got is not None:
            got.language = got.language or "node"
            got.node_script = name
            got.evidence.append((rel, lineno, f"npm script {name}: {script[:100]}"))
        return got


def _line_of(text: str, needle: str) -> int:
    idx = text.find(needle)
    return text.count("\n", 0, idx) + 1 if idx >= 0 else 0


# --------------------------------------------------------------------------- Python (libcst)

_VISITOR_CLS: Any = None


def _visitor_class() -> Any:
    """The libcst visitor class, built on first use so that importing this module does not
    import libcst (~170 ms)."""
    global _VISITOR_CLS
    if _VISITOR_CLS is not None:
        return _VISITOR_CLS
    import warnings

    with warnings.catch_warnings():
        # libcst.metadata imports mypy_extensions.TypedDict, deprecated: not our users' concern
        warnings.simplefilter("ignore", DeprecationWarning)
        import libcst as cst
        from libcst.metadata import MetadataWrapper, PositionProvider  # noqa: F401

    def dotted(node: Any) -> str | None:
        parts = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if isinstance(node, cst.Name):
            parts.append(node.value)
            return ".".join(reversed(parts))
        return None

    SimpleString, ConcatenatedString, FormattedString = cst.SimpleString, cst.ConcatenatedString, cst.FormattedString
    NOT_STR: Any = object()  # bytes, or a literal that does not evaluate

    def literal(node: Any) -> Any:
        """``node.evaluated_value`` (what ``ast.literal_eval`` makes of the literal), without
        calling the parser for the plain literals that are most of them: no backslash, no
        carriage return, no NUL, a str prefix. Anything that is not a str is ``NOT_STR``."""
        if node.__class__ is SimpleString:
            value = node.value
            q = value[-1:]
            start = value.find(q)
            if start >= 0 and value[start:start + 3] == q * 3 and len(value) - start >= 6:
                width = 3
            else:
                width = 1
            prefix = value[:start]
            if (start >= 0 and prefix in ("", "r", "u", "R", "U") and "\\" not in value and "\r" not in value
                    and "\0" not in value and len(value) - start >= 2 * width):
                return value[start + width:len(value) - width]
            try:
                v = node.evaluated_value
            except Exception:
                return NOT_STR
            return v if isinstance(v, str) else NOT_STR
        # ConcatenatedString, as its evaluated_value combines the parts
        left, right = node.left, node.right
        if left.__class__ is FormattedString or right.__class__ is FormattedString:
            return None
        lv = literal(left)
        rv = literal(right)
        if rv is None:
            return None
        if isinstance(lv, str) and isinstance(rv, str):
            return lv + rv
        return NOT_STR

    def string(node: Any) -> str | None:
        if node.__class__ is SimpleString or node.__class__ is ConcatenatedString:
            v = literal(node)
            return v if v.__class__ is str else None
        return None

    def fstring_text(node: Any) -> str:
        out = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                out.append(part.value)
            else:
                out.append("{}")
        return "".join(out)

    class PyVisitor(cst.CSTVisitor):
        METADATA_DEPENDENCIES = (PositionProvider,)

        def __init__(self) -> None:
            super().__init__()
            self.hits: list[tuple[int, str, Any]] = []
            self.imported: set[str] = set()  # every imported module (and from-imported module.name)
            self.from_names: dict[str, str] = {}  # local name -> module.name it came from
            self.consts: dict[str, Any] = {}
            self.app_vars: dict[str, str] = {}  # var -> framework label
            self.pending_calls: list[tuple[int, Any]] = []
            self.arg_defaults: dict[str, Any] = {}  # argparse dest -> default node
            self.settings_like = 0
            self._skip_strings: set[int] = set()
            self.later: dict[int, list[list[Any]]] = {}

        # Read by _walk (the fast path), the visitor knows the line of the node being visited;
        # driven by libcst's own visit (the exact fallback), it asks PositionProvider.
        current: Any = None
        current_line = 0

        def line(self, node: Any) -> int:
            if node is self.current:
                return self.current_line
            try:
                return self.get_metadata(PositionProvider, node).start.line
            except Exception:
                return 0

        def hit(self, node: Any, kind: str, payload: Any) -> None:
            if self.current is not None and node is not self.current:
                # a node below the one being visited (a field of a settings class): its line is
                # filled in when the walk reaches it
                h = [0, kind, payload]
                self.later.setdefault(id(node), []).append(h)
                self.hits.append(h)
                return
            self.hits.append((self.line(node), kind, payload))

        # ---- imports
        def visit_Import(self, node: Any) -> None:
            for alias in node.names:
                mod = dotted(alias.name)
                if mod:
                    self.imported.add(mod)
                    if alias.asname is None:
                        self.from_names[mod.split(".")[0]] = mod.split(".")[0]
                    else:
                        an = getattr(alias.asname.name, "value", None)
                        if an:
                            self.from_names[an] = mod
                    self.hit(node, "import", (mod, [], 0))

        def visit_ImportFrom(self, node: Any) -> None:
            mod = dotted(node.module) if node.module is not None else ""
            level = len(node.relative)
            names: list[str] = []
            if isinstance(node.names, cst.ImportStar):
                names = ["*"]
            else:
                for alias in node.names:
                    n = dotted(alias.name)
                    if n:
                        names.append(n)
                        local = getattr(alias.asname.name, "value", None) if alias.asname else n
                        if local and level == 0 and mod:
                            self.from_names[local] = f"{mod}.{n}"
            if level == 0 and mod:
                self.imported.add(mod)
                for n in names:
                    if n != "*":
                        self.imported.add(f"{mod}.{n}")
            self.hit(node, "import", (mod or "", names, level))

        # ---- strings
        def visit_Expr(self, node: Any) -> bool | None:
            if isinstance(node.value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
                return False  # docstrings and bare string statements
            return None

        def visit_SimpleString(self, node: Any) -> None:
            v = string(node)
            if v is not None:
                self.hit(node, "string", v)

        def visit_ConcatenatedString(self, node: Any) -> bool:
            v = string(node)
            if v is not None:
                self.hit(node, "string", v)
                return False
            return True

        def visit_FormattedString(self, node: Any) -> None:
            self.hit(node, "fstring", fstring_text(node))

        # ---- assignments
        def visit_Assign(self, node: Any) -> None:
            for t in node.targets:
                if isinstance(t.target, cst.Name):
                    name = t.target.value
                    self.consts.setdefault(name, node.value)
                    self.assigned(name, node.value, node)
                elif isinstance(t.target, cst.Attribute):
                    self.assigned(t.target.attr.value, node.value, node)

        def visit_AnnAssign(self, node: Any) -> None:
            if isinstance(node.target, cst.Name) and node.value is not None:
                self.consts.setdefault(node.target.value, node.value)
                self.assigned(node.target.value, node.value, node)

        def assigned(self, name: str, value: Any, node: Any) -> None:
            if name in ("INSTALLED_APPS", "ROOT_URLCONF", "DATABASES") and not self.settings_like:
                self.settings_like = self.line(node) or 1
            if isinstance(value, cst.Call):
                fn = dotted(value.func) or ""
                label = self.framework_of(fn)
                if label:
                    self.app_vars[name] = label
            up = name.upper()
            if any(tok in up for tok in ("HOST", "SERVER", "ADDR")):
                v = string(value)
                if v is not None:
                    self.hit(node, "hostval", v)

        def framework_of(self, fn: str) -> str | None:
            last = fn.rsplit(".", 1)[-1]
            if last in _PY_FRAMEWORKS:
                return last
            if fn in ("web.Application", "aiohttp.web.Application", "Application") and self.has("aiohttp"):
                return "aiohttp"
            if fn.endswith("web.Application") and self.has("tornado"):
                return "Tornado"
            if fn in ("falcon.App", "falcon.API", "falcon.asgi.App"):
                return "Falcon"
            if last in ("get_wsgi_application", "get_asgi_application"):
                return "Django"
            if fn in ("connexion.App", "connexion.FlaskApp", "connexion.AsyncApp"):
                return "Connexion"
            return None

        def has(self, mod: str) -> bool:
            return any(m == mod or m.startswith(mod + ".") for m in self.imported)

        # ---- dicts: {"HOST": "db"}
        def visit_DictElement(self, node: Any) -> None:
            k = string(node.key)
            if k is not None and k.upper() in ("HOST", "HOSTNAME", "LOCATION", "HOSTS", "SERVER"):
                v = string(node.value)
                if v is not None:
                    self.hit(node, "hostval", v)

        # ---- classes: pydantic settings
        def visit_ClassDef(self, node: Any) -> None:
            bases = [dotted(a.value) or "" for a in node.bases]
            if not any(b.rsplit(".", 1)[-1] == "BaseSettings" for b in bases):
                return
            prefix = ""
            body = getattr(node.body, "body", [])
            fields: list[tuple[Any, str]] = []
            for stmt in body:
                inner = getattr(stmt, "body", None)
                if isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                            fields.append((small, small.target.value))
                        if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call):
                            for arg in small.value.args:
                                if arg.keyword is not None and arg.keyword.value == "env_prefix":
                                    prefix = string(arg.value) or prefix
                elif isinstance(stmt, cst.ClassDef) and stmt.name.value == "Config" and inner is not None:
                    for s2 in getattr(inner, "body", []):
                        if isinstance(s2, cst.SimpleStatementLine):
                            for small in s2.body:
                                if isinstance(small, cst.Assign) and any(
                                        isinstance(t.target, cst.Name) and t.target.value == "env_prefix"
                                        for t in small.targets):
                                    prefix = string(small.value) or prefix
            for n, fname in fields:
                if fname.startswith("model_config"):
                    continue
                self.hit(n, "settings_field", (prefix + fname).upper())

        # ---- subscripts: os.environ["X"]
        def visit_Subscript(self, node: Any) -> None:
            base = dotted(node.value) or ""
            if base in ("os.environ", "environ") or base.endswith(".environ"):
                if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
                    v = string(node.slice[0].slice.value)
                    if v is not None:
                        self.hit(node, "env", v)

        # ---- calls
        def visit_Call(self, node: Any) -> None:
            fn = dotted(node.func) or ""
            last = fn.rsplit(".", 1)[-1] if fn else (node.func.attr.value if isinstance(node.func, cst.Attribute) else "")
            args = node.args
            pos = [a.value for a in args if a.keyword is None and not a.star]
            kw = {a.keyword.value: a.value for a in args if a.keyword is not None}
            ln = self.line(node)

            env_name = self.env_call(fn, pos)
            if env_name is not None:
                self.hits.append((ln, "env", env_name))
                if len(pos) > 1:
                    d = string(pos[1])
                    if d is not None and _is_hostish_env(env_name):
                        self.hits.append((ln, "hostval", d))
            label = self.framework_of(fn)
            if label:
                self.pending_calls.append((ln, ("app", label, fn)))
            if last in _PY_CLIENT_CALLS:
                self.hits.append((ln, "client_call", last))
            if last == "add_argument" and pos and "default" in kw:
                flag = string(pos[-1]) or ""
                dest = string(kw["dest"]) if "dest" in kw else flag.lstrip("-").replace("-", "_")
                if dest:
                    self.arg_defaults.setdefault(dest, kw["default"])
            if last in ("SMTP", "SMTP_SSL") and self.has("smtplib"):
                h = string(pos[0]) if pos else (string(kw["host"]) if "host" in kw else None)
                if h:
                    self.hits.append((ln, "smtp", h))
            for k, v in kw.items():
                if k.lower() in ("host", "hostname", "hosts", "server", "servers", "address", "addr",
                                 "bootstrap_servers", "mail_server", "smtp_server"):
                    s = string(v)
                    if s is not None:
                        self.hits.append((ln, "hostval", s))
            if fn.endswith("autodiscover_tasks") or fn.endswith("config_from_object") or "include" in kw:
                for a in pos + ([kw["include"]] if "include" in kw else []):
                    for s in self.strings_in(a):
                        self.hits.append((ln, "module_ref", s))
            # server runs
            run = None
            if fn in ("uvicorn.run", "hypercorn.run") or (fn == "run" and self.from_names.get("run", "").startswith("uvicorn")):
                target = string(pos[0]) if pos else None
                if target:
                    self.hits.append((ln, "module_ref", target))
                run = ("uvicorn", kw.get("port"), kw.get("host"), 8000, "127.0.0.1")
            elif fn in ("web.run_app", "aiohttp.web.run_app", "run_app"):
                run = ("aiohttp", kw.get("port"), kw.get("host"), 8080, "0.0.0.0")
            elif last == "TCPSite" and self.has("aiohttp"):
                run = ("aiohttp", kw.get("port", pos[2] if len(pos) > 2 else None),
                       kw.get("host", pos[1] if len(pos) > 1 else None), 8080, "0.0.0.0")
            elif fn in ("waitress.serve", "serve") and self.has("waitress"):
                listen = string(kw["listen"]) if "listen" in kw else None
                run = ("waitress", kw.get("port") or (listen.rsplit(":", 1)[-1] if listen else None), kw.get("host"),
                       8080, "0.0.0.0")
            elif last in ("HTTPServer", "ThreadingHTTPServer", "TCPServer", "ThreadingTCPServer", "WSGIServer") and pos:
                addr = pos[0]
                if isinstance(addr, cst.Tuple) and len(addr.elements) >= 2:
                    run = (last, addr.elements[1].value, addr.elements[0].value, None, None)
            elif last == "make_server" and len(pos) >= 2:
                run = ("wsgiref", pos[1], pos[0], None, None)
            elif last in ("start_webhook", "run_webhook"):
                run = ("webhook", kw.get("port"), kw.get("listen", kw.get("host")), None, None)
            elif last == "run" and isinstance(node.func, cst.Attribute):
                recv = dotted(node.func.value) or ""
                label = self.app_vars.get(recv)
                if recv == "socketio" or recv.endswith(".socketio") and self.has("flask_socketio"):
                    run = ("Flask-SocketIO", kw.get("port", pos[2] if len(pos) > 2 else None),
                           kw.get("host", pos[1] if len(pos) > 1 else None), 5000, "127.0.0.1")
                elif label in _PY_RUN_DEFAULT_PORT or (label is None and "port" in kw and
                                                       any(self.has(m) for m in ("flask", "quart", "sanic", "bottle"))):
                    lab = label or next(m for m in ("Flask", "Quart", "Sanic", "Bottle") if self.has(m.lower()))
                    run = (lab, kw.get("port", pos[1] if len(pos) > 1 else None),
                           kw.get("host", pos[0] if pos else None), _PY_RUN_DEFAULT_PORT.get(lab),
                           "0.0.0.0" if lab == "Sanic" else "127.0.0.1")
            elif last == "listen" and isinstance(node.func, cst.Attribute) and self.has("tornado") and pos:
                run = ("Tornado", pos[0], kw.get("address"), None, "0.0.0.0")
            if run is not None:
                self.pending_calls.append((ln, ("run",) + run))

        def strings_in(self, node: Any) -> list[str]:
            s = string(node)
            if s is not None:
                return [s]
            if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
                return [x for e in node.elements for x in [string(e.value)] if x is not None]
            return []

        def env_call(self, fn: str, pos: list[Any]) -> str | None:
            if not pos:
                return None
            if fn in ("os.getenv", "getenv", "os.environ.get", "environ.get", "os.environ.setdefault",
                      "environ.setdefault", "os.environ.pop") or fn.endswith(".environ.get") or \
                    (fn == "getenv" and self.from_names.get("getenv", "").startswith("os")):
                return string(pos[0])
            if fn in ("config", "env") or fn.startswith("env."):
                if self.has("decouple") or self.has("environ") or self.has("environs"):
                    return string(pos[0])
            return None

        # ---- values
        def int_of(self, node: Any, depth: int = 0) -> tuple[int | None, str]:
            if node is None or depth > 6:
                return None, ""
            if isinstance(node, cst.Integer):
                try:
                    return int(node.value.replace("_", ""), 0), ""
                except ValueError:
                    return None, ""
            s = string(node)
            if s is not None:
                s = s.strip()
                return (int(s), "") if s.isdigit() else (None, "")
            if isinstance(node, cst.Call):
                fn = dotted(node.func) or ""
                pos = [a.value for a in node.args if a.keyword is None and not a.star]
                if fn in ("int", "str") and pos:
                    return self.int_of(pos[0], depth + 1)
                if self.env_call(fn, pos) is not None:
                    dflt = pos[1] if len(pos) > 1 else next((a.value for a in node.args if a.keyword is not None
                                                             and a.keyword.value == "default"), None)
                    v, _ = self.int_of(dflt, depth + 1)
                    return v, "env default" if v is not None else "env"
                return None, ""
            if isinstance(node, cst.BooleanOperation):
                v, how = self.int_of(node.left, depth + 1)
                if v is not None:
                    return v, how
                v, _ = self.int_of(node.right, depth + 1)
                return v, "env default" if v is not None else ""
            if isinstance(node, cst.Name) and node.value in self.consts:
                return self.int_of(self.consts[node.value], depth + 1)
            if isinstance(node, cst.Attribute) and node.attr.value in self.arg_defaults:
                v, _ = self.int_of(self.arg_defaults[node.attr.value], depth + 1)
                return v, "option default" if v is not None else ""
            return None, ""

        def str_of(self, node: Any, depth: int = 0) -> str | None:
            if node is None or depth > 6:
                return None
            s = string(node)
            if s is not None:
                return s
            if isinstance(node, cst.Call):
                fn = dotted(node.func) or ""
                pos = [a.value for a in node.args if a.keyword is None and not a.star]
                if self.env_call(fn, pos) is not None and len(pos) > 1:
                    return self.str_of(pos[1], depth + 1)
            if isinstance(node, cst.BooleanOperation):
                return self.str_of(node.right, depth + 1)
            if isinstance(node, cst.Name) and node.value in self.consts:
                return self.str_of(self.consts[node.value], depth + 1)
            return None

        def leave_Module(self, original_node: Any) -> None:
            for ln, payload in self.pending_calls:
                if payload[0] == "app":
                    label, fn = payload[1], payload[2]
                    req = _PY_FRAMEWORKS.get(label, (None,))[0]
                    if req is None or self.has(req):
                        self.hits.append((ln, "app", label))
                else:
                    _, label, port_node, host_node, dport, dhost = payload
                    port, how = self.int_of(port_node)
                    if port is None and port_node is None:
                        port, how = dport, "default"
                    host = self.str_of(host_node) if host_node is not None else dhost
                    self.hits.append((ln, "run", (label, port, how, host)))
            if self.settings_like:
                self.hits.append((self.settings_like, "settings", None))

    _VISITOR_CLS = (PyVisitor, cst, _make_walk(cst, PyVisitor))
    return _VISITOR_CLS


def _make_walk(cst: Any, visitor_cls: Any) -> Any:
    """``walk(module, visitor) -> bool``: what ``MetadataWrapper(module).visit(visitor)`` does
    for PyVisitor, without libcst's visitor machinery (which rebuilds every node on the way) and
    without PositionProvider (which renders the whole module to learn positions).

    The tree is walked once, depth first, each node's fields in the order libcst visits them
    (taken from its ``_visit_and_replace_children``, and checked against libcst on the first node
    of each class), counting the newlines the module's text has before each node: a node's
    line is 1 + the newlines in the whitespace, strings and comments rendered before it (for
    an expression, after its own opening parentheses, as PositionProvider counts). The visitor's
    ``visit_*`` methods run in the same order, with the same return values honoured (False:
    the node's children are not visited; they are still counted).

    Returns False when the newline count at the end disagrees with the module's text: then
    the lines cannot be trusted and the caller reads the module the exact, slow way."""
    import dataclasses

    CSTNode = cst.CSTNode
    Newline, SimpleWhitespace, Comment = cst.Newline, cst.SimpleWhitespace, cst.Comment
    SimpleString, FormattedStringText = cst.SimpleString, cst.FormattedStringText
    TrailingWhitespace, EmptyLine = cst.TrailingWhitespace, cst.EmptyLine
    ParenthesizedWhitespace, Name = cst.ParenthesizedWhitespace, cst.Name
    visits = {getattr(cst, name[len("visit_"):]): name for name in dir(visitor_cls)
              if name.startswith("visit_") and isinstance(getattr(cst, name[len("visit_"):], None), type)}
    can_prune = {cst.Expr, cst.ConcatenatedString}  # their visit_* may return False

    class _Recorder(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[Any] = []

        def on_visit(self, node: Any) -> bool:
            self.seen.append(node)
            return False

    def observed(node: Any) -> list[Any]:
        rec = _Recorder()
        node._visit_and_replace_children(rec)
        return rec.seen

    plans: dict[type, tuple[str, ...] | None] = {}

    def plan_of(cls: type, node: Any) -> tuple[str, ...] | None:
        """The fields of ``cls`` in libcst's visiting order, or None: ask libcst per node."""
        fields = {f.name for f in dataclasses.fields(cls)}
        order: list[str] = []
        for c in cls._visit_and_replace_children.__code__.co_consts:
            if c.__class__ is str and c in fields and c not in order:
                order.append(c)
        plan: tuple[str, ...] | None = tuple(order)
        # check against libcst on this first node: the children it visits, in its order
        got = []
        for f in order:
            v = getattr(node, f)
            if isinstance(v, CSTNode):
                got.append(v)
            elif v.__class__ is list or v.__class__ is tuple:
                got.extend(x for x in v if isinstance(x, CSTNode))
        seen = observed(node)
        if len(got) != len(seen) or any(a is not b for a, b in zip(got, seen)):
            plan = None
        plans[cls] = plan
        return plan

    class _Visit:  # visit a node once its opening parentheses are counted
        __slots__ = ("node", "resume")

        def __init__(self, node: Any, resume: Any) -> None:
            self.node, self.resume = node, resume

    class _Lines:  # newlines inside a string literal, counted after its start
        __slots__ = ("n",)

        def __init__(self, n: int) -> None:
            self.n = n

    class _Resume:  # the end of a subtree whose visit_* returned False
        __slots__ = ("active",)

        def __init__(self) -> None:
            self.active = False

    def walk(module: Any, v: Any, text: str) -> bool:
        line = 1
        pruned = 0  # > 0: inside a subtree whose visit_* returned False
        later = v.later
        stack: list[Any] = [module]
        pop, push, extend = stack.pop, stack.append, stack.extend
        while stack:
            node = pop()
            cls = node.__class__
            # the leaves that hold newlines, and the commonest nodes, first
            if cls is SimpleWhitespace:
                if "\n" in node.value:
                    line += node.value.count("\n")
                continue
            if cls is Newline:
                line += 1
                continue
            if cls is Comment:
                continue
            if cls is Name:
                if node.lpar:
                    extend(reversed(node.rpar))
                    extend(reversed(node.lpar))
                continue
            if cls is TrailingWhitespace or cls is EmptyLine:
                line += 1 + node.whitespace.value.count("\n")
                continue
            if cls is ParenthesizedWhitespace:
                line += (1 + node.first_line.whitespace.value.count("\n") + node.last_line.value.count("\n")
                         + sum(1 + e.whitespace.value.count("\n") for e in node.empty_lines))
                continue
            if cls is FormattedStringText:
                line += node.value.count("\n")
                continue
            if cls is _Lines:
                line += node.n
                continue
            if cls is _Resume:
                if node.active:
                    pruned -= 1
                continue
            if cls is _Visit:
                if not pruned:
                    target = node.node
                    v.current, v.current_line = target, line
                    if getattr(v, visits[target.__class__])(target) is False and node.resume is not None:
                        node.resume.active = True
                        pruned += 1
                    v.current = None
                continue
            if later and id(node) in later:
                for h in later.pop(id(node)):
                    h[0] = line
            if cls is SimpleString:
                n = node.value.count("\n")
                extend(reversed(node.rpar))
                if n:
                    push(_Lines(n))
                push(_Visit(node, None))
                extend(reversed(node.lpar))
                continue
            plan = plans[cls] if cls in plans else plan_of(cls, node)
            if plan is None:
                children = observed(node)
            else:
                children = []
                for f in plan:
                    x = getattr(node, f)
                    if x is None:
                        continue
                    xc = x.__class__
                    if xc is tuple or xc is list:
                        children.extend(x)
                    elif isinstance(x, CSTNode):
                        children.append(x)
            if pruned or cls not in visits:
                children.reverse()
                extend(children)
                continue
            resume = None
            if cls in can_prune:
                resume = _Resume()
                push(resume)
            lpar = getattr(node, "lpar", None)
            k = len(lpar) if lpar and (lpar.__class__ is tuple or lpar.__class__ is list) else 0
            # the visit waits for the node's own opening parentheses (its first children):
            # a node's line is where its own text starts
            rest = children[k:]
            rest.reverse()
            extend(rest)
            push(_Visit(node, resume))
            if k:
                head = children[:k]
                head.reverse()
                extend(head)
        v.current = None
        if later:
            return False
        # (libcst ends the last line with a newline the text may not have; a module without
        # statements has no line worth knowing)
        expected = text.count("\n") + (0 if module.has_trailing_newline else 1)
        if line - 1 != expected and module.body:
            return False
        v.leave_Module(module)
        return True

    return walk


def _source_text(data: bytes) -> str | None:
    """The text of Python source as Python decodes it (PEP 263 / BOM), or None."""
    head = data[:400]
    try:
        if b"coding" in head:
            import io
            import tokenize

            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
            return data.decode(encoding)
        return data.decode("utf-8")
    except (SyntaxError, LookupError, UnicodeDecodeError, ValueError):
        return None


def _expr_depth(tree: ast.AST, limit: int) -> int:
    """Deepest nesting of expression nodes (statements do not count), stopping past ``limit``."""
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, ast.expr):
            d += 1
            if d > deepest:
                deepest = d
                if deepest > limit:
                    return deepest
        for child in ast.iter_child_nodes(node):
            stack.append((child, d))
    return deepest


# --------------------------------------------------------------------------- the text pre-scan
#
# Parsing is most of the cost of reading an app (libcst builds a node for every token and every
# run of whitespace), and most modules hold nothing the analyser looks for. Before a module is
# parsed, its text is scanned (comments and string literals told apart from code by one regular
# expression, as Python's tokenizer tells them apart) for everything that can make a fact. A
# module without any is read (it counts against the bounds like any other) but not parsed:
# parsing it could only find imports of modules that are neither local nor in the tables, and
# strings and names that mean nothing to the analyser. What a hit of PyVisitor needs to matter,
# and so what the scan looks for:
#
# - an import: a module of the client, SDK or HTTP tables (by its first name); when imports are
#   followed, also a relative import or a first name that is a file or folder in an import root;
# - a string: "://", a Django/Celery backend path, a dict key such as "HOST", or (when following)
#   a first name that is a local top-level module. Each literal is checked as Python evaluates
#   it (backslash-newlines removed), implicitly concatenated literals also joined; an escape that
#   can make any character (\x \u \U \N \0-7) means "parse";
# - an f-string: "://", or quotes or unbalanced braces in it (literals inside its expressions);
# - the code (outside strings and comments): environment reads, framework and server names,
#   database constructors, Django settings, SMTP, and any name containing host, server or addr
#   (host assignments and keyword arguments).

_SCAN_TOKEN_RE = re.compile(
    r"(?P<c>#[^\r\n]*)"
    r"|(?P<p>(?<!\w)[rRbBuUfF]{1,2})?"
    r"(?P<s>'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'(?:[^'\\\n]|\\.)*'"
    r'|"(?:[^"\\\n]|\\.)*")',
    re.S,
)
# possessive: a comment line of many "#" must not be split every way there is
_SCAN_GAP_RE = re.compile(r"(?:[ \t\f\r\n]++|\\\r?\n|#[^\r\n]*+)*+")
_SCAN_ESCAPE_RE = re.compile(r"\\[xuUN0-7]")
_SCAN_CONTINUATION_RE = re.compile(r"\\\r?\n")
_SCAN_FROM_RE = re.compile(r"\bfrom\s+([\w.]+)\s+import\b")
_SCAN_RELATIVE_RE = re.compile(r"\bfrom\s*\.")
_SCAN_IMPORT_RE = re.compile(r"\bimport\s+((?:[\w.]+(?:\s+as\s+\w+)?\s*,\s*)*[\w.]+)")
_SCAN_WORDS_RE = re.compile(r"\b(?:" + "|".join([
    # environment reads (os.environ, getenv, python-decouple, django-environ, environs, pydantic)
    "getenv", "environ", "decouple", "environs", "BaseSettings",
    # web frameworks and servers the analyser recognises
    *_PY_FRAMEWORKS, "Application", "falcon", "connexion", "get_wsgi_application", "get_asgi_application",
    "uvicorn", "hypercorn", "run_app", "TCPSite", "waitress", "HTTPServer", "ThreadingHTTPServer",
    "TCPServer", "ThreadingTCPServer", "WSGIServer", "make_server", "start_webhook", "run_webhook",
    "socketio", "flask_socketio", "tornado", "flask", "quart", "sanic", "bottle",
    # database constructors, Django settings, SMTP
    *_PY_CLIENT_CALLS, "INSTALLED_APPS", "ROOT_URLCONF", "DATABASES", "SMTP", "SMTP_SSL",
]) + r")\b")
_SCAN_HOSTISH_RE = re.compile(r"(?i)host|server|addr")
_SCAN_DICT_KEYS = frozenset({"HOST", "HOSTNAME", "LOCATION", "HOSTS", "SERVER"})
_SCAN_TABLE_TOPS = frozenset(k.split(".")[0] for k in (*_PY_CLIENTS, *_PY_EGRESS, *_PY_HTTP_CLIENTS))
_SCAN_STORE_PREFIXES = tuple(prefix for prefix, _ in _PY_DOTTED_STORES)

# characters that can be an expression node's own token (operators, brackets, dots, commas,
# colons) and the keywords that can: see _depth_bound
_NEST_CHARS = "()[]{}.,:;*+-~<>=!%&|^/@"
_NEST_KEYWORDS_RE = re.compile(r"\b(?:not|and|or|if|else|in|is|for|lambda|await|yield|async)\b")


class _KeepOnly(dict):
    """A str.translate table that deletes every character it does not list."""

    def __missing__(self, key: int) -> None:
        return None


_NEST_TABLE = _KeepOnly({ord(c): c for c in _NEST_CHARS + "\n"})


class _Scan:
    """A module's text as the pre-scan sees it: ``code`` (comments and plain string literals
    removed; f-strings kept whole, their expressions are code), ``strings`` (each literal's
    value as far as the scan can tell, and the joined value of implicitly concatenated ones),
    ``maybe`` (an escape or an f-string the scan cannot see into: parse it), ``fstrings`` and
    ``depth_view`` (for the nesting bound, see :func:`_depth_bound`)."""

    __slots__ = ("code", "strings", "maybe", "fstrings", "depth_view")

    def __init__(self, text: str):
        code: list[str] = []
        depth: list[str] = []
        strings: list[str] = []
        maybe = fstrings = False
        pos = 0
        group: list[str] = []
        group_end = -1
        for m in _SCAN_TOKEN_RE.finditer(text):
            start = m.start()
            code.append(text[pos:start])
            depth.append(text[pos:start])
            if m.group("c") is not None:
                pos = m.end()
                continue  # a comment is neither code nor string
            raw = m.group("s")
            prefix = (m.group("p") or "").lower()
            width = 3 if len(raw) >= 6 and raw[:3] in ("'''", '"""') else 1
            body = raw[width:len(raw) - width]
            if "\\" in body:
                if _SCAN_ESCAPE_RE.search(body):
                    maybe = True
                body = _SCAN_CONTINUATION_RE.sub("", body)
            # implicit concatenation: only blanks, continuations and comments between literals
            if group and _SCAN_GAP_RE.fullmatch(text, group_end, start):
                group.append(body)
            else:
                if len(group) > 1:
                    strings.append("".join(group))
                group = [body]
            strings.append(body)
            if "f" in prefix:
                fstrings = True
                code.append(m.group())
                if "'" in body or '"' in body or body.count("{") != body.count("}"):
                    maybe = True
                # one token whose expressions nest like code: count their characters
                depth.append("_" + "." * sum(body.count(c) for c in _NEST_CHARS))
            else:
                depth.append("_")
            pos = group_end = m.end()
        if len(group) > 1:
            strings.append("".join(group))
        code.append(text[pos:])
        depth.append(text[pos:])
        self.code = _SCAN_CONTINUATION_RE.sub(" ", "".join(code))
        self.depth_view = "".join(depth)
        self.strings = strings
        self.maybe = maybe
        self.fstrings = fstrings


def _depth_bound(scan: _Scan) -> int:
    """An upper bound on the nesting depth of expressions (as :func:`_expr_depth` counts it) in a
    module CPython has parsed, from its text alone.

    Each expression node that holds another has a token of its own outside that child: an
    operator, a bracket, a dot, a comma, a colon, or one of the keywords of
    ``_NEST_KEYWORDS_RE``; and a chain of nested expressions lies in one logical line. So the
    depth is at most 1 + the number of such tokens in a logical line. A string literal is a leaf;
    an f-string counts as many such tokens as it has such characters (its expressions)."""
    text = _SCAN_CONTINUATION_RE.sub(" ", scan.depth_view)
    text = _NEST_KEYWORDS_RE.sub(".", text).translate(_NEST_TABLE)
    best = acc = depth = 0
    for ln in text.split("\n"):
        acc += len(ln)
        depth += ln.count("(") + ln.count("[") + ln.count("{") - ln.count(")") - ln.count("]") - ln.count("}")
        if depth <= 0:
            if acc > best:
                best = acc
            acc = depth = 0
    return max(best, acc) + 1


# (path, rel) -> (bytes, note, hits): what parsing a file gave, kept for the other services
# that read the same build context in this process
_PARSED: dict[tuple[Path, str], tuple[bytes, str | None, list | None]] = {}
_PARSED_IN: list[str] = []


def _parse_python(data: bytes, rel: str, text: str | None, scan: "_Scan | None") -> tuple[str | None, list | None]:
    """(note, hits) for one module: the hits of PyVisitor, or None with the note saying why the
    file was skipped."""
    try:
        # CPython's verdict decides, as before, which files are read at all: libcst accepts
        # some that CPython rejects (`a <> b`, `0777`, `None = 1`)
        tree = ast.parse(data, filename=rel)
    except SyntaxError as e:
        where = f"line {e.lineno}: " if e.lineno else ""
        return f"skipped {rel}: not valid Python ({where}{e.msg})", None
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        return f"skipped {rel}: could not be parsed ({type(e).__name__})", None
    if scan is None or (scan.fstrings and sys.version_info >= (3, 12)) or _depth_bound(scan) > MAX_EXPR_DEPTH:
        # the cheap bound cannot tell: measure the depth exactly
        if _expr_depth(tree, MAX_EXPR_DEPTH) > MAX_EXPR_DEPTH:
            return f"skipped {rel}: expressions nested deeper than {MAX_EXPR_DEPTH}", None
    del tree
    visitor_cls, cst, walk = _visitor_class()
    try:
        module = cst.parse_module(data)
    except Exception as e:  # libcst.ParserSyntaxError and friends
        msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        return f"skipped {rel}: libcst could not parse it ({msg})", None
    try:
        v = visitor_cls()
        if text is None or module.encoding.replace("_", "-").lower() not in ("utf-8", "utf8"):
            text = data.decode(module.encoding, errors="replace")
        if not walk(module, v, text):
            # the walk's line count disagrees with the text: read it the exact, slow way
            from libcst.metadata import MetadataWrapper

            v = visitor_cls()
            MetadataWrapper(module, unsafe_skip_copy=True).visit(v)
    except RecursionError:
        return f"skipped {rel}: too deeply nested to analyse", None
    return None, [tuple(h) for h in v.hits]


class _Python:
    def __init__(self, run: _Run, launch: _Launch | None):
        self.run = run
        self.launch = launch
        self.roots: list[Path] = []
        self.seen: set[Path] = set()
        self.queue: deque[Path] = deque()
        self.apps: list[tuple[str, int, str]] = []
        self.runs: list[tuple[str, int, tuple[str, int | None, str, str | None]]] = []
        self.settings_files: list[tuple[str, int]] = []
        self.parsed = 0
        self.unparsed = 0  # read, but the pre-scan found nothing to parse for
        self.local_top: set[str] = set()
        self.root_words: set[str] | None = None
        # module resolution within this reading (the tree does not change during one; every
        # module that imports `app.models` asks again): (name, base, roots) -> files; path -> is a file
        self._module_files: dict[tuple[str, Path | None, int], tuple[Path, ...]] = {}
        self._is_file: dict[Path, bool] = {}

    # ---- module resolution
    def is_file(self, p: Path) -> bool:
        got = self._is_file.get(p)
        if got is None:
            got = self._is_file[p] = p.is_file()
        return got
    def add_root(self, p: Path | None) -> None:
        if p is None:
            return
        rp = self.run.inside(p)
        if rp is not None and rp.is_dir() and rp not in self.roots:
            self.roots.append(rp)

    def module_files(self, dotted_name: str, base: Path | None = None) -> list[Path]:
        """Files executed by importing ``dotted_name``: package __init__s and the module itself."""
        key = (dotted_name, base, len(self.roots))  # (roots are only ever added to)
        got = self._module_files.get(key)
        if got is None:
            got = self._module_files[key] = tuple(self._find_module_files(dotted_name, base))
        return list(got)

    def _find_module_files(self, dotted_name: str, base: Path | None) -> list[Path]:
        parts = [p for p in dotted_name.split(".") if p]
        if not parts:
            return []
        roots = [base] if base is not None else self.roots
        for root in roots:
            out: list[Path] = []
            cur = root
            ok = True
            for i, part in enumerate(parts):
                cur = cur / part
                last = i == len(parts) - 1
                if cur.is_dir():
                    init = cur / "__init__.py"
                    if init.is_file():
                        out.append(init)
                    if last:
                        main = cur / "__main__.py"
                        if main.is_file() and base is None and self.launch and \
                                f"python -m {dotted_name}" == (self.launch.entry or ""):
                            out.append(main)
                        return out or [cur]
                elif cur.with_suffix(".py").is_file():
                    out.append(cur.with_suffix(".py"))
                    return out  # attribute access past a module: stop
                else:
                    ok = False
                    break
            if ok and out:
                return out
            if out and not ok and i > 0:
                return out  # a.b where b is an attribute of package a
        return []

    def resolve_import(self, file: Path, mod: str, names: list[str], level: int) -> list[Path]:
        if level == 0:
            bases: list[Path | None] = [None]
            full = mod
        else:
            d = file.parent
            for _ in range(level - 1):
                d = d.parent
            bases = [d]
            full = mod
        out: list[Path] = []
        for base in bases:
            if full:
                out += [p for p in self.module_files(full, base) if self.is_file(p)]
            for n in names:
                if n == "*":
                    continue
                sub = f"{full}.{n}" if full else n
                out += [p for p in self.module_files(sub, base) if self.is_file(p)]
        return out

    def find_anywhere(self, dotted_name: str) -> Path | None:
        """A module that is not under the roots: look for it in the tree, shallowest first, and
        add the folder it hangs from as a root."""
        parts = dotted_name.split(".")
        want_file = "/".join(parts) + ".py"
        want_pkg = "/".join(parts) + "/__init__.py"
        for p in self.run.walk(names=(parts[-1] + ".py", "__init__.py"), scan=False):
            relp = self.run.rel(p)
            for want in (want_file, want_pkg):
                if relp == want or relp.endswith("/" + want):
                    root_rel = relp[: -len(want)].rstrip("/")
                    root = self.run.ctx / root_rel if root_rel else self.run.ctx
                    self.add_root(root)
                    return p
        return None

    # ---- driving
    def analyze(self) -> None:
        la = self.launch
        run = self.run
        for r in (la.roots if la else []):
            rp = Path(r)
            self.add_root(rp if rp.is_absolute() and run.inside(rp) is not None else run.locate_dir(r))
        for s in (la.scripts if la else []):
            p = Path(s)
            if p.is_file():
                self.add_root(p.parent)
        self.add_root(run.ctx)
        self.add_root(run.ctx / "src")
        for top in run.ctx.iterdir() if run.ctx.is_dir() else []:
            if top.suffix == ".py":
                self.local_top.add(top.stem)
            elif top.is_dir() and (top / "__init__.py").is_file():
                self.local_top.add(top.name)
        start: list[Path] = []
        missing: list[str] = []
        if la is not None:
            for s in la.scripts:
                p = Path(s)
                p = p if p.is_absolute() else run.locate(s) or p
                if p.is_file():
                    start.append(p)
                else:
                    missing.append(s)
            for m in la.modules:
                files = [f for f in self.module_files(m) if f.is_file()]
                if not files and not m.endswith(".celery"):
                    found = self.find_anywhere(m)
                    files = [f for f in self.module_files(m) if f.is_file()] if found else []
                    if not files and found:
                        files = [found]
                    if not files:
                        missing.append(m)
                start.extend(files)
        follow = bool(start) and not (la is not None and la.scan)
        if missing and not start:
            run.note(f"entrypoint {', '.join(missing)} not found in the build context: scanned every Python file")
        elif missing:
            run.note(f"not found in the build context: {', '.join(missing)}")
        if follow:
            for p in start:
                self.queue.append(p)
        else:
            for p in start:
                self.queue.append(p)
            for p in run.walk(suffixes=(".py",)):
                self.queue.append(p)
            if la is None or not la.entry:
                run.note("no known Python entrypoint: scanned every Python file (tests, migrations, virtualenvs skipped)")
        for r in self.roots:
            for top in r.iterdir():
                if top.suffix == ".py":
                    self.local_top.add(top.stem)
                elif top.is_dir() and (top / "__init__.py").is_file():
                    self.local_top.add(top.name)
        self.scan_setup()
        try:
            while self.queue:
                p = self.queue.popleft()
                rp = run.inside(p)
                if rp is None or rp in self.seen:
                    continue
                self.seen.add(rp)
                self.file(rp, follow)
        except _Stop:
            pass
        self.decide()

    def scan_setup(self) -> None:
        """What the pre-scan compares imports and strings with: the names in the import roots
        (a first name that resolves to a local module is one of them) and the local top-level
        modules (what a dotted string must start with to be followed)."""
        words: set[str] | None = set()
        for r in self.roots:
            try:
                names = os.listdir(r)
            except OSError:
                words = None  # cannot tell: every import may be local
                break
            for n in names:
                low = n.lower()
                words.add(low)
                if low.endswith(".py"):
                    words.add(low[:-3])
        self.root_words = words

    def worth_parsing(self, scan: _Scan, follow: bool) -> bool:
        """False when the module's text has nothing that can make a fact (see the pre-scan)."""
        if scan.maybe:
            return True
        code = scan.code
        if _SCAN_WORDS_RE.search(code) or _SCAN_HOSTISH_RE.search(code):
            return True
        if follow and _SCAN_RELATIVE_RE.search(code):
            return True
        words = self.root_words

        def matters(module: str) -> bool:
            top = module.split(".", 1)[0]
            if not top:
                return follow  # relative
            return top in _SCAN_TABLE_TOPS or (follow and (words is None or top.lower() in words))

        for m in _SCAN_FROM_RE.finditer(code):
            if matters(m.group(1)):
                return True
        for m in _SCAN_IMPORT_RE.finditer(code):
            for part in m.group(1).split(","):
                if matters(part.split()[0]):
                    return True
        local = self.local_top
        for sv in scan.strings:
            if "://" in sv or sv.upper() in _SCAN_DICT_KEYS:
                return True
            for prefix in _SCAN_STORE_PREFIXES:
                if prefix in sv:
                    return True
            if follow and sv.split(":", 1)[0].split(".", 1)[0] in local:
                return True
        return False

    def file(self, path: Path, follow: bool) -> None:
        run = self.run
        data = run.read(path)
        if data is None:
            return
        rel = run.rel(path)
        text = _source_text(data)
        scan = None
        if text is not None:
            scan = _Scan(text)
            if not self.worth_parsing(scan, follow):
                self.unparsed += 1
                return
        got = _PARSED.get((path, rel))
        if got is None or got[0] != data:
            got = (data, *_parse_python(data, rel, text, scan))
            _PARSED[(path, rel)] = got
        _, note, hits = got
        if note is not None:
            run.note(note)
        if hits is None:
            return
        self.parsed += 1
        self.interpret(path, rel, hits, follow)

    def interpret(self, path: Path, rel: str, hits: list, follow: bool) -> None:
        run = self.run
        settings_file = any(k == "settings" for _, k, _ in hits)
        once: set[tuple[str, str]] = set()  # one import evidence per library per file
        for line, kind, payload in hits:
            if kind == "import":
                mod, names, level = payload
                local_files = self.resolve_import(path, mod, names, level)
                if follow:
                    for f in local_files:
                        if run.inside(f) not in self.seen:
                            self.queue.append(f)
                if level > 0 or local_files or not mod:
                    continue
                fulls = [mod] + [f"{mod}.{n}" for n in names if n != "*"]
                for full in fulls:
                    hit = _module_table_hit(full, _PY_CLIENTS)
                    if hit and ("c", hit[0]) not in once:
                        once.add(("c", hit[0]))
                        run.client(hit[1], rel, line, f"imports {hit[0]}")
                        break
                for full in fulls:
                    hit = _module_table_hit(full, _PY_EGRESS)
                    if hit and ("e", hit[0]) not in once:
                        once.add(("e", hit[0]))
                        run.egress(rel, line, f"imports {hit[0]} ({hit[1]} API)")
                        break
                for full in fulls:
                    hc = next((h for h in _PY_HTTP_CLIENTS if full == h or full.startswith(h + ".")), None)
                    if hc and ("h", hc) not in once:
                        once.add(("h", hc))
                        run.http_client_evidence.append((rel, line, f"imports {hc}"))
                        break
            elif kind in ("string", "fstring"):
                text = payload
                if "://" in text:
                    run.url(text, rel, line)
                if kind == "string":
                    for prefix, store in _PY_DOTTED_STORES:
                        if text.startswith(prefix):
                            run.client(store, rel, line, f"uses {text}")
                            break
                    if follow and len(text) < 200 and _DOTTED_RE.match(text) and ("." in text or settings_file):
                        self.follow_string(text)
            elif kind == "module_ref":
                if follow and _DOTTED_RE.match(payload):
                    self.follow_string(payload)
            elif kind == "env":
                run.env(payload, rel, line)
            elif kind == "settings_field":
                run.env(payload, rel, line)
            elif kind == "hostval":
                self.host_value(payload, rel, line)
            elif kind == "smtp":
                h = payload.split(":")[0]
                cls = run.host_literal(h, rel, line)
                if cls == "external":
                    run.egress(rel, line, f"calls {h.lower()} (SMTP)")
            elif kind == "client_call":
                run.client(_PY_CLIENT_CALLS[payload], rel, line, f"{payload}()")
            elif kind == "app":
                self.apps.append((rel, line, payload))
            elif kind == "run":
                self.runs.append((rel, line, payload))
            elif kind == "settings":
                self.settings_files.append((rel, line))

    def host_value(self, text: str, rel: str, line: int) -> None:
        run = self.run
        t = text.strip()
        if "://" in t:
            return  # handled as a URL
        for part in t.split(","):
            host = part.strip().split(":")[0] if part.count(":") <= 1 else part.strip()
            if not host:
                continue
            cls = run.host_literal(host, rel, line)
            if cls == "external":
                run.egress(rel, line, f"calls {host.lower()}")

    def follow_string(self, text: str) -> None:
        mod = _module_of_target(text)
        top = mod.split(".")[0]
        if top not in self.local_top:
            return
        parts = mod.split(".")
        # the longest prefix that is a module (``myapp.apps.MyappConfig`` -> myapp/apps.py)
        for i in range(len(parts), 0, -1):
            files = [f for f in self.module_files(".".join(parts[:i])) if f.is_file()]
            if files:
                for f in files:
                    self.queue.append(f)
                # a Django app: its conventional modules run too (models, views, tasks, signals)
                pkg_init = files[-1]
                if pkg_init.name == "__init__.py" and i == len(parts) == 1:
                    for sub in ("models", "views", "tasks", "signals", "consumers", "apps"):
                        for f in self.module_files(f"{mod}.{sub}"):
                            if f.is_file():
                                self.queue.append(f)
                return

    # ---- conclusions
    def decide(self) -> None:
        run = self.run
        facts = run.facts
        la = self.launch
        kind = la.kind if la else "unknown"
        for rel, line, label in self.apps:
            run.ev(rel, line, f"{label} app")
        for rel, line in self.settings_files[:1]:
            run.ev(rel, line, "Django settings")
        explicit_port: tuple[int, str, int, str] | None = None
        for rel, line, (label, port, how, host) in self.runs:
            what = f"runs {label} server"
            if port is not None:
                what += f" on port {port}" + (f" ({how})" if how else "")
                if explicit_port is None:
                    explicit_port = (port, rel, line, what)
            run.ev(rel, line, what)
            if host in ("127.0.0.1", "localhost") and kind != "server":
                run.note(f"{rel}:{line}: {label} listens on 127.0.0.1" +
                         (" by default" if how == "default" or host is None else "") +
                         ": other containers cannot reach it")
        if kind == "worker":
            if self.apps or self.runs:
                run.note("the code defines a web app, but the command runs a worker: not serving HTTP")
            return
        if kind == "server":
            facts.serves_http = True
            return
        if kind in ("script", "unknown", "binary") or la is None:
            if self.runs:
                facts.serves_http = True
                if explicit_port and facts.port is None:
                    facts.port = explicit_port[0]
            elif (la is None or kind == "unknown" or (la is not None and la.scan)) and (self.apps or self.settings_files):
                facts.serves_http = True
            elif self.apps:
                run.note("a web app is defined but the command does not run a server")


# --------------------------------------------------------------------------- Node (regex)

_JS_LOCAL_RE = re.compile(r"""(?:require\(\s*|import\s*\(\s*|from\s+|import\s+)['"](\.{1,2}/[^'"\n]+)['"]""")
_JS_PKG_RE = re.compile(r"""(?:require\(\s*|import\s*\(\s*|from\s+|import\s+)['"]((?:@[\w.\-]+/)?[\w.\-]+)(?:/[^'"\n]*)?['"]""")
_JS_ENV_RE = re.compile(r"""process\.env(?:\.([A-Za-z_]\w*)|\[\s*['"]([^'"]+)['"]\s*\])""")
_JS_DESTRUCT_RE = re.compile(r"""\{([^{}]{1,500})\}\s*=\s*process\.env\b""")
_JS_LISTEN_RE = re.compile(r"""\.listen\(\s*(?:\{\s*port\s*:\s*)?([^,)\s}]+)""")
_JS_STR_RE = re.compile(r"""(['"`])((?:(?!\1)[^\\\n]|\\.){0,400})\1""")
_JS_EXTS = ("", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", "/index.js", "/index.ts", "/index.mjs")

# file text -> what the JS scan finds in it (the services of one context read the same files)
_JS_EVENTS: dict[str, list[tuple[int, str, Any]]] = {}


def _js_events(src: str) -> list[tuple[int, str, Any]]:
    """What the regex scan finds in a JS/TS file, line by line and in the order _Node.scan acts
    on it: (line, kind, value). It depends on the text alone, so it is found once per text; a
    line is only searched with the expressions whose fixed text it contains (each expression
    needs that text to match, so the result is the same as searching every line with all)."""
    got = _JS_EVENTS.get(src)
    if got is not None:
        return got
    out: list[tuple[int, str, Any]] = []
    for i, ln in enumerate(src.splitlines(), 1):
        s = ln.strip()
        if s.startswith(("//", "*", "/*")):
            continue
        if "require" in ln or "import" in ln or "from" in ln:
            out += [(i, "local", m.group(1)) for m in _JS_LOCAL_RE.finditer(ln)]
            out += [(i, "pkg", m.group(1)) for m in _JS_PKG_RE.finditer(ln)]
        if "process.env" in ln:
            out += [(i, "env", m.group(1) or m.group(2)) for m in _JS_ENV_RE.finditer(ln)]
            for m in _JS_DESTRUCT_RE.finditer(ln):
                for part in m.group(1).split(","):
                    name = part.split(":")[0].split("=")[0].strip()
                    if name:
                        out.append((i, "env", name))
        if "fetch(" in ln:
            out.append((i, "fetch", None))
        if "://" in ln:
            out += [(i, "url", m.group(2)) for m in _JS_STR_RE.finditer(ln) if "://" in m.group(2)]
        if ".listen(" in ln:
            m = _JS_LISTEN_RE.search(ln)
            if m:
                out.append((i, "listen", m.group(1)))
    if len(_JS_EVENTS) > 2048:
        _JS_EVENTS.clear()
    _JS_EVENTS[src] = out
    return out


class _Node:
    def __init__(self, run: _Run, launch: _Launch | None):
        self.run = run
        self.launch = launch

    def analyze(self) -> None:
        run = self.run
        run.note("node: facts come from package.json and a regex scan of the entry files (best effort)")
        pkg_path = run.ctx / "package.json"
        text = run.text(pkg_path) if pkg_path.is_file() else None
        data: dict[str, Any] = {}
        if text:
            try:
                loaded = json.loads(text)
                data = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                run.note("package.json is not valid JSON: skipped")
        deps: dict[str, Any] = {}
        for key in ("dependencies", "optionalDependencies", "peerDependencies"):
            if isinstance(data.get(key), dict):
                deps.update(data[key])
        http_default: int | None = None
        for name in deps:
            line = _line_of(text or "", f'"{name}"')
            res = self.package(name, "package.json", line, "depends on")
            if res is not None and http_default is None:
                http_default = res
        la = self.launch
        entries: list[str] = list(la.node_entries) if la else []
        if not entries:
            main = data.get("main")
            if isinstance(main, str):
                entries.append(main)
            for cand in ("server.js", "index.js", "app.js", "src/index.js", "src/server.js", "src/main.ts",
                         "src/index.ts", "main.js"):
                if (run.ctx / cand).is_file():
                    entries.append(cand)
                    break
        files: list[Path] = []
        for e in entries:
            p = self.resolve(run.ctx, e)
            if p is None and e.startswith(("dist/", "build/", "./dist/", "./build/")):
                src = re.sub(r"^(?:\./)?(?:dist|build)/", "src/", e)
                p = self.resolve(run.ctx, re.sub(r"\.js$", ".ts", src)) or self.resolve(run.ctx, src)
            if p is not None:
                files.append(p)
        if files and not run.facts.entrypoint:
            run.facts.entrypoint = run.rel(files[0])
        self.listen_port: tuple[int, str, int, str] | None = None
        self.listens = False
        try:
            self.scan(files)
        except _Stop:
            pass
        listen_port = self.listen_port
        if la is None or la.kind == "unknown":
            if http_default is not None or self.listens:
                run.facts.serves_http = True
        elif la.kind not in ("oneoff", "worker") and self.listens:
            run.facts.serves_http = True
        if listen_port and run.facts.port is None:
            run.facts.port = listen_port[0]
        elif run.facts.serves_http and run.facts.port is None and http_default and (la is None or la.kind == "unknown"):
            run.facts.port = http_default

    def scan(self, files: list[Path]) -> None:
        run = self.run
        seen: set[Path] = set()
        queue = deque(files)
        while queue:
            p = queue.popleft()
            rp = run.inside(p)
            if rp is None or rp in seen:
                continue
            seen.add(rp)
            src = run.text(rp)
            if src is None:
                continue
            rel = run.rel(rp)
            for i, kind, value in _js_events(src):
                if kind == "local":
                    q = self.resolve(rp.parent, value)
                    if q is not None:
                        queue.append(q)
                elif kind == "pkg":
                    self.package(value, rel, i, "requires")
                elif kind == "env":
                    run.env(value, rel, i)
                elif kind == "fetch":
                    run.uses_fetch = True
                elif kind == "url":
                    run.url(value, rel, i)
                else:  # listen
                    port, how = self.port_expr(value, src)
                    if port is not None and self.listen_port is None:
                        self.listen_port = (port, rel, i, how)
                    self.listens = True
                    run.ev(rel, i, "listens" + (f" on port {port}" + (f" ({how})" if how else "") if port else ""))

    def package(self, name: str, rel: str, line: int, verb: str) -> int | None:
        run = self.run
        if name in _NODE_HTTP:
            run.ev(rel, line, f"{verb} {name} (HTTP server)")
            return _NODE_HTTP[name] or 0
        if name in _NODE_CLIENTS:
            run.client(_NODE_CLIENTS[name], rel, line, f"{verb} {name}")
        elif name in _NODE_EGRESS:
            run.egress(rel, line, f"{verb} {name} ({_NODE_EGRESS[name]} API)")
        elif any(name.startswith(p) for p in _NODE_EGRESS_PREFIXES):
            label = next(v for k, v in _NODE_EGRESS_PREFIXES.items() if name.startswith(k))
            run.egress(rel, line, f"{verb} {name} ({label} API)")
        elif name in _NODE_HTTP_CLIENTS:
            run.http_client_evidence.append((rel, line, f"{verb} {name}"))
        return None

    def resolve(self, base: Path, spec: str) -> Path | None:
        for ext in _JS_EXTS:
            cand = base / (spec + ext)
            # (most candidates are not there: resolving one costs a system call per folder)
            if not cand.is_file():
                continue
            rp = self.run.inside(cand)
            if rp is not None and rp.is_file():
                return rp
        return None

    @staticmethod
    def port_expr(expr: str, src: str) -> tuple[int | None, str]:
        e = expr.strip()
        if e.isdigit():
            return int(e), ""
        m = re.search(r"process\.env\.PORT\s*(?:\|\||\?\?)\s*['\"]?(\d{2,5})", src)
        if m:
            return int(m.group(1)), "env default"
        if re.fullmatch(r"[A-Za-z_$][\w$]*", e):
            m = re.search(rf"\b(?:const|let|var)\s+{re.escape(e)}\s*=\s*(?:[^;\n]*?(?:\|\||\?\?)\s*)?['\"]?(\d{{2,5}})\b", src)
            if m:
                return int(m.group(1)), ""
        return None, ""


# --------------------------------------------------------------------------- Go (regex)

_GO_IMPORT_RE = re.compile(r'^\s*(?:[A-Za-z_.]\w*\s+)?"([^"]+)"')
_GO_ENV_RE = re.compile(r'os\.(?:Getenv|LookupEnv)\(\s*"([^"]+)"')
_GO_LISTEN_RE = re.compile(r'(?:ListenAndServe(?:TLS)?|\.Run|\.Start|\.Listen|Addr\s*:)\(?\s*"([^"]*:\d{1,5})"')
_GO_STR_RE = re.compile(r'"((?:[^"\\\n]|\\.){0,400})"|`([^`]{0,400})`')
_GO_IMPORT_LINE_RE = re.compile(r'^import\s+(?:[A-Za-z_.]\w*\s+)?"([^"]+)"')
_GO_HTTP_CLIENT_RE = re.compile(r"\bhttp\.(?:Get|Post|NewRequest(?:WithContext)?|PostForm|Head)\(|http\.Client\{")


class _Go:
    def __init__(self, run: _Run, launch: _Launch | None):
        self.run = run
        self.launch = launch

    def analyze(self) -> None:
        run = self.run
        run.note("go: facts come from go.mod and a regex scan of *.go files (best effort)")
        gomod = run.ctx / "go.mod"
        text = run.text(gomod) if gomod.is_file() else None
        serves = False
        if text:
            in_block = False
            for i, ln in enumerate(text.splitlines(), 1):
                s = ln.strip()
                if s.startswith("require ("):
                    in_block = True
                    continue
                if in_block and s == ")":
                    in_block = False
                    continue
                if "// indirect" in s:
                    continue
                m = re.match(r"^(?:require\s+)?([\w.\-]+\.[\w.\-/]+)\s+v", s) if (in_block or s.startswith("require ")) else None
                if m:
                    serves |= self.module(m.group(1), "go.mod", i, "requires")
        self.mains: list[str] = []
        self.listen: tuple[int, str, int] | None = None
        self.serves = serves
        try:
            self.scan()
        except _Stop:
            pass
        mains, listen, serves = self.mains, self.listen, self.serves
        if mains:
            entry = mains[0]
            binary = self.launch.go_binary if self.launch else None
            if binary:
                name = _base(binary)
                for mm in mains:
                    if PurePosixPath(mm).parent.name == name:
                        entry = mm
                        break
            run.facts.entrypoint = run.facts.entrypoint or entry
            if len(mains) > 1:
                run.note(f"several Go main packages: {', '.join(mains[:5])}")
        if serves and (self.launch is None or self.launch.kind not in ("oneoff", "worker")):
            run.facts.serves_http = True
        if listen and run.facts.port is None:
            run.facts.port = listen[0]

    def scan(self) -> None:
        run = self.run
        mains = self.mains
        for p in run.walk(suffixes=(".go",)):
            src = run.text(p)
            if src is None:
                continue
            rel = run.rel(p)
            if re.search(r"^package\s+main\b", src, re.M) and re.search(r"^func\s+main\s*\(", src, re.M):
                mains.append(rel)
            in_imports = False
            for i, ln in enumerate(src.splitlines(), 1):
                s = ln.strip()
                if s.startswith("//"):
                    continue
                if s.startswith("import ("):
                    in_imports = True
                    continue
                if in_imports:
                    if s == ")":
                        in_imports = False
                        continue
                    m = _GO_IMPORT_RE.match(s)
                    if m:
                        self.serves |= self.module(m.group(1), rel, i, "imports")
                    continue
                # (each expression only on the lines whose text it needs to match)
                m = _GO_IMPORT_LINE_RE.match(s) if s.startswith("import") else None
                if m:
                    self.serves |= self.module(m.group(1), rel, i, "imports")
                    continue
                if "os." in ln:
                    for m in _GO_ENV_RE.finditer(ln):
                        run.env(m.group(1), rel, i)
                m = _GO_LISTEN_RE.search(ln) if '"' in ln else None
                if m:
                    port, _ = _port_value(m.group(1))
                    self.serves = True
                    run.ev(rel, i, f"listens on {m.group(1)}")
                    if port and self.listen is None:
                        self.listen = (port, rel, i)
                elif "ListenAndServe(" in ln:
                    self.serves = True
                    run.ev(rel, i, "calls http.ListenAndServe")
                if "http." in ln and _GO_HTTP_CLIENT_RE.search(ln):
                    run.http_client_evidence.append((rel, i, "uses net/http client"))
                for m in _GO_STR_RE.finditer(ln) if "://" in ln else ():
                    val = m.group(1) if m.group(1) is not None else m.group(2)
                    if val and "://" in val:
                        run.url(val, rel, i)

    def module(self, path: str, rel: str, line: int, verb: str) -> bool:
        run = self.run
        for pre in _GO_HTTP:
            if path == pre or path.startswith(pre + "/"):
                run.ev(rel, line, f"{verb} {path} (HTTP server)")
                return True
        for pre, kind in _GO_CLIENTS.items():
            if path == pre or path.startswith(pre + "/"):
                run.client(kind, rel, line, f"{verb} {path}")
                return False
        for pre, label in _GO_EGRESS.items():
            if path == pre or path.startswith(pre + "/"):
                run.egress(rel, line, f"{verb} {path} ({label} API)")
                return False
        if path == "net/http" and verb == "imports":
            run.ev(rel, line, "imports net/http")
        return False


# --------------------------------------------------------------------------- driver


def _detect_language(run: _Run, launch: _Launch | None) -> str | None:
    if launch is not None and launch.language:
        return launch.language
    ctx = run.ctx
    py_markers = ("pyproject.toml", "requirements.txt", "setup.py", "setup.cfg", "Pipfile", "manage.py",
                  "poetry.lock", "uv.lock")
    has = lambda n: (ctx / n).is_file()  # noqa: E731
    if any(has(n) for n in py_markers):
        return "python"
    if has("go.mod"):
        return "go"
    if has("package.json"):
        return "node"
    counts = {"python": 0, "node": 0, "go": 0}
    n = 0
    for p in run.walk(suffixes=(".py", ".js", ".mjs", ".ts", ".go")):
        n += 1
        if p.suffix == ".py":
            counts["python"] += 1
        elif p.suffix == ".go":
            counts["go"] += 1
        else:
            counts["node"] += 1
        if n >= 200:
            break
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


def analyze(
    context: Path,
    command: list[str] | str | None = None,
    *,
    service_names: frozenset[str] = frozenset(),
    max_files: int = 400,
    max_bytes: int = 4_000_000,
) -> SourceFacts:
    """Facts about the service built from ``context`` and started with ``command``.

    Never imports or runs the app, never raises for a broken source tree: trouble becomes a
    note. See the module docstring for what is detected and the bounds."""
    ctx = Path(context)
    if _PARSED_IN[:1] != [str(ctx)]:
        # parsed files are shared between the inputs of one context, read one after the other
        _PARSED.clear()
        _PARSED_IN[:] = [str(ctx)]
    try:
        run = _Run(ctx, service_names, max_files, max_bytes)
    except (OSError, RuntimeError) as e:
        facts = SourceFacts()
        facts.notes.append(f"build context {ctx} cannot be read: {e}")
        return facts
    facts = run.facts
    if not run.ctx.is_dir():
        facts.notes.append(f"build context {ctx} is not a folder")
        return facts
    launch: _Launch | None = None
    try:
        try:
            launch = _Commands(run).launch(command)
        except _Stop:
            launch = None
        if launch is not None:
            facts.entrypoint = launch.entry
            for file, line, what in launch.evidence:
                run.ev(file, line, what)
            for n in launch.notes:
                run.note(n)
            for kind, why in launch.clients.items():
                run.client(kind, COMMAND_FILE, 0, why)
            for u in launch.urls:
                run.url(u, COMMAND_FILE, 0, gated=False)
            if launch.kind == "oneoff":
                run.note("the command runs a one-off task, not a long-running service")
        lang = _detect_language(run, launch)
        facts.language = lang
        if lang == "python":
            _Python(run, launch).analyze()
        elif lang == "node":
            _Node(run, launch).analyze()
        elif lang == "go":
            _Go(run, launch).analyze()
        elif command is None:
            facts.notes.append("no Python, Node or Go source found")
    except _Stop:
        pass
    except Exception as e:  # a bug of ours must not take the run down; say so
        facts.notes.append(f"source analysis stopped early: {type(e).__name__}: {str(e)[:200]}")
    _finish(run, launch)
    return facts


def _finish(run: _Run, launch: _Launch | None) -> None:
    facts = run.facts
    if launch is not None:
        if launch.kind == "server":
            facts.serves_http = True
        elif launch.kind in ("worker", "oneoff"):
            facts.serves_http = False
        if launch.arg_port is not None and facts.serves_http and launch.kind == "script":
            facts.port = launch.arg_port
            run.ev(COMMAND_FILE, 0, f"listens on port {launch.arg_port} (--port in the command)")
        if launch.port is not None:
            facts.port = launch.port
            run.ev(COMMAND_FILE, 0, f"listens on port {launch.port}" + (f" ({launch.port_what})" if launch.port_what else ""))
        elif facts.serves_http and facts.port is None and launch.kind == "server" and launch.port_what != "socket":
            if launch.port_what == "env":
                run.note("the port comes from an environment variable without a default: unknown")
            elif launch.default_port:
                facts.port = launch.default_port
                run.ev(COMMAND_FILE, 0, f"listens on port {launch.default_port} ({launch.tool or 'server'} default)")
        if launch.loopback and launch.kind == "server":
            run.note(launch.loopback)
    if not facts.egress and run.external_urls:
        if run.http_client_evidence or run.uses_fetch:
            for file, line, what in run.http_client_evidence[:3]:
                run.ev(file, line, what)
            for file, line, host in run.external_urls:
                run.egress(file, line, f"calls {host}")
        else:
            hosts = sorted({h for _, _, h in run.external_urls})
            run.note("external URLs in the source but no HTTP client seen: " + ", ".join(hosts[:5]))
    elif run.external_urls:
        for file, line, host in run.external_urls:
            if run.http_client_evidence or run.uses_fetch:
                run.ev(file, line, f"calls {host}")
    if not facts.egress and run.http_client_evidence:
        f, ln, what = run.http_client_evidence[0]
        run.note(f"{f}:{ln} {what} but no literal external host was found: egress unknown (URLs may come from env)")
    facts.evidence.sort(key=lambda e: (e.file != COMMAND_FILE, e.file, e.line, e.what))
