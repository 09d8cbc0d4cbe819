"""harden.app_source: facts about a service read from its own source (never imported, never run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harden import app_source
from harden.app_source import Evidence, SourceFacts, analyze, effective_command, referenced_services

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"
# the folder the harden package under test comes from (src/, or wherever it is installed)
SRC = Path(app_source.__file__).resolve().parents[1]


def ev(facts: SourceFacts) -> set[tuple[str, int, str]]:
    return {(e.file, e.line, e.what) for e in facts.evidence}


def whats(facts: SourceFacts) -> list[str]:
    return [e.what for e in facts.evidence]


def notes(facts: SourceFacts) -> str:
    return "\n".join(facts.notes)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return root


# --------------------------------------------------------------------------- import cost


def test_importing_the_module_does_not_import_libcst():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    code = "import sys, harden.app_source; print('libcst' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_analyze_imports_libcst_only_when_there_is_python_to_read(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    write(tmp_path, {"main.go": 'package main\nfunc main() {}\n', "go.mod": "module x\n"})
    code = ("import sys; from pathlib import Path; from harden.app_source import analyze; "
            f"f = analyze(Path({str(tmp_path)!r})); print(f.language, 'libcst' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "go False"


# --------------------------------------------------------------------------- Python apps


def test_fastapi_pymysql_under_uvicorn():
    f = analyze(APPS / "fastapi_pymysql", ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"],
                service_names=frozenset({"db", "reports", "web"}))
    assert f.language == "python"
    assert f.entrypoint == "app.main:app (uvicorn)"
    assert f.serves_http is True
    assert f.port == 8000
    assert f.clients == {"mysql"}
    assert f.env_hosts == {"DB_HOST", "REPORTS_URL"}  # os.getenv + pydantic BaseSettings fields
    assert f.egress is False  # the docstring URL is not a call
    assert f.truncated is False
    e = ev(f)
    assert ("app/main.py", 10, "FastAPI app") in e
    assert ("app/db.py", 3, "imports pymysql") in e
    assert ("app/db.py", 5, "reads env DB_HOST") in e
    assert ("app/settings.py", 8, "refers to service reports") in e
    assert ("<command>", 0, "listens on port 8000") in e
    assert referenced_services(f) == {"db", "reports"}
    # the entrypoint never reaches cache_experiment.py (it imports redis): not read, not counted
    assert not any(x.file == "app/cache_experiment.py" for x in f.evidence)
    assert "uvicorn listens on 127.0.0.1" not in notes(f)  # --host 0.0.0.0 was given


def test_without_a_command_every_python_file_is_scanned():
    f = analyze(APPS / "fastapi_pymysql", None)
    assert f.entrypoint is None
    assert f.serves_http is True  # a FastAPI app is defined
    assert f.port is None
    assert f.clients == {"mysql", "redis"}  # the unreached experiment counts now
    assert ("app/cache_experiment.py", 2, "imports redis") in ev(f)
    assert "no known Python entrypoint" in notes(f)
    # without service names a literal "db" is not a project service, and not the internet either
    assert referenced_services(f) == set()
    assert f.egress is False


def test_flask_sqlalchemy_postgres_under_gunicorn_shell_form():
    f = analyze(APPS / "flask_sqlalchemy_pg", "gunicorn --workers 3 --bind 0.0.0.0:5000 wsgi:app",
                service_names=frozenset({"postgres", "web"}))
    assert f.entrypoint == "wsgi:app (gunicorn)"
    assert f.serves_http is True
    assert f.port == 5000
    assert f.clients == {"postgres"}
    assert f.env_hosts == {"DATABASE_URL"}
    assert f.egress is False
    e = ev(f)
    assert ("app/__init__.py", 8, "Flask app") in e
    assert ("app/config.py", 6, "connects to postgres URL postgresql+psycopg2://postgres:5432/shop") in e
    assert ("app/config.py", 6, "refers to service postgres") in e
    # the password in the URL never reaches the evidence
    assert not any("s3cret" in x.what for x in f.evidence)
    assert "gunicorn" not in notes(f)  # --bind was given: no loopback warning


def test_gunicorn_without_bind_defaults_to_loopback_8000():
    f = analyze(APPS / "flask_sqlalchemy_pg", ["gunicorn", "-w", "2", "-k", "gthread", "wsgi:app"])
    assert f.entrypoint == "wsgi:app (gunicorn)"
    assert f.port == 8000
    assert ("<command>", 0, "listens on port 8000 (gunicorn default)") in ev(f)
    assert "listens on 127.0.0.1:8000" in notes(f)


def test_django_runserver_follows_settings_urls_and_installed_apps():
    f = analyze(APPS / "django_site", ["python", "manage.py", "runserver", "0.0.0.0:8000"],
                service_names=frozenset({"db", "cache", "web"}))
    assert f.entrypoint == "manage.py runserver"
    assert f.serves_http is True
    assert f.port == 8000
    assert f.clients == {"postgres", "redis"}
    assert f.env_hosts == {"POSTGRES_HOST", "REDIS_URL"}  # ALLOWED_HOSTS is not a host to connect to
    assert f.egress is True
    e = ev(f)
    assert ("mysite/settings.py", 21, "uses django.db.backends.postgresql") in e
    assert ("mysite/settings.py", 25, "refers to service db") in e
    assert ("mysite/settings.py", 33, "refers to service cache") in e
    assert ("polls/views.py", 6, "calls api.github.com") in e  # reached through INSTALLED_APPS
    assert referenced_services(f) == {"db", "cache"}


def test_django_migrate_then_runserver_in_sh_c():
    f = analyze(APPS / "django_site",
                ["sh", "-c", "python manage.py migrate --noinput && python manage.py runserver 8000"])
    assert f.entrypoint == "manage.py runserver"
    assert f.port == 8000
    assert "runserver listens on 127.0.0.1" in notes(f)  # '8000' alone binds loopback


def test_django_under_gunicorn_reaches_settings_through_wsgi():
    f = analyze(APPS / "django_site", ["gunicorn", "mysite.wsgi", "--bind", "0.0.0.0:8001"])
    assert f.entrypoint == "mysite.wsgi (gunicorn)"
    assert f.port == 8001
    assert "postgres" in f.clients
    assert ("mysite/wsgi.py", 6, "Django app") in ev(f)


def test_discord_bot_calls_the_internet_and_reads_db_host():
    f = analyze(APPS / "discord_bot", ["python", "-u", "bot.py"], service_names=frozenset({"db", "bot"}))
    assert f.language == "python"
    assert f.entrypoint == "bot.py"
    assert f.serves_http is False
    assert f.port is None
    assert f.egress is True
    assert f.clients == {"mysql"}
    assert f.env_hosts == {"DB_HOST"}  # DB_PORT, DB_USER, DISCORD_TOKEN are not hosts
    e = ev(f)
    assert ("bot.py", 4, "imports discord (Discord API)") in e
    assert ("storage.py", 3, "imports aiomysql") in e
    assert ("storage.py", 11, "reads env DB_HOST") in e
    assert ("cogs/greetings.py", 1, "imports discord (Discord API)") in e  # followed from bot.py


def test_telegram_bot_aiogram_run_as_module():
    f = analyze(APPS / "telegram_bot", ["python", "-m", "bot"], service_names=frozenset({"redis", "bot"}))
    assert f.entrypoint == "python -m bot"
    assert f.serves_http is False
    assert f.egress is True
    assert f.clients == {"redis"}
    assert f.env_hosts == {"REDIS_URL"}
    e = ev(f)
    assert ("bot/app.py", 3, "imports aiogram (Telegram API)") in e
    assert ("bot/app.py", 12, "refers to service redis") in e
    assert ("bot/handlers.py", 1, "imports aiogram (Telegram API)") in e  # bot/__main__ -> bot.app -> .handlers


def test_celery_worker_with_redis_broker():
    f = analyze(APPS / "celery_worker", "celery -A proj worker -l info", service_names=frozenset({"redis", "worker"}))
    assert f.entrypoint == "celery worker -A proj"
    assert f.serves_http is False
    assert f.port is None
    assert f.clients == {"redis"}
    assert f.env_hosts == {"CELERY_BROKER_URL", "SLACK_WEBHOOK_URL"}
    assert f.egress is True  # proj.tasks is reached through include=["proj.tasks"]
    e = ev(f)
    assert ("proj/celery.py", 7, "connects to redis URL redis://redis:6379/0") in e
    assert ("proj/tasks.py", 7, "calls hooks.slack.com") in e
    assert not any(x.file == "proj/web.py" for x in f.evidence)  # the dashboard is another service


def test_celery_flower_serves_http_on_5555():
    f = analyze(APPS / "celery_worker", ["celery", "--app=proj", "flower"])
    assert f.entrypoint == "celery flower -A proj"
    assert f.serves_http is True
    assert f.port == 5555


# --------------------------------------------------------------------------- Node and Go


def test_node_express_pg_via_npm_start():
    f = analyze(APPS / "node_express_pg", ["npm", "start"], service_names=frozenset({"db", "api"}))
    assert f.language == "node"
    assert f.entrypoint == "src/index.js"
    assert f.serves_http is True
    assert f.port == 3000
    assert f.clients == {"postgres"}
    assert f.env_hosts == {"PGHOST", "RATES_API_URL"}
    assert f.egress is True  # axios + a literal external URL
    e = ev(f)
    assert ("package.json", 6, "npm script start: node src/index.js") in e
    assert ("package.json", 12, "depends on pg") in e
    assert ("src/index.js", 10, "listens on port 3000 (env default)") in e
    assert ("src/routes/orders.js", 8, "calls api.exchangerate.host") in e
    assert "best effort" in notes(f)


def test_node_without_a_command_uses_main():
    f = analyze(APPS / "node_express_pg", None)
    assert f.language == "node"
    assert f.entrypoint == "src/index.js"
    assert f.serves_http is True
    assert f.clients == {"postgres"}


def test_go_net_http_with_go_mod():
    f = analyze(APPS / "go_nethttp", ["/app/server"], service_names=frozenset({"db"}))
    assert f.language == "go"
    assert f.entrypoint == "main.go"
    assert f.serves_http is True
    assert f.port == 8080
    assert f.clients == {"postgres"}
    assert f.env_hosts == {"DATABASE_URL"}
    assert f.egress is False  # the URL in main_test.go is a test's, not the app's
    e = ev(f)
    assert ("go.mod", 6, "requires github.com/lib/pq") in e
    assert ("main.go", 21, "listens on :8080") in e
    assert not any(x.file == "main_test.go" for x in f.evidence)
    assert "best effort" in notes(f)


# --------------------------------------------------------------------------- broken input, bounds


def test_broken_files_are_skipped_with_a_note_and_the_rest_is_read():
    f = analyze(APPS / "broken_syntax", ["uvicorn", "app.main:app"])
    assert f.serves_http is True
    assert f.port == 8000
    # helpers.py is fine; broken.py (psycopg2), deep.py (pymongo), legacy.py (redis) are skipped
    assert f.clients == {"postgres"}
    assert ("app/helpers.py", 3, "imports asyncpg") in ev(f)
    n = notes(f)
    assert "skipped app/broken.py: not valid Python (line 3" in n
    assert "skipped app/deep.py" in n  # 1,500 nested brackets: libcst 1.0.1 would segfault
    assert "skipped app/legacy.py" in n
    assert "uvicorn listens on 127.0.0.1 by default" in n


def test_long_chains_that_libcst_chokes_on_are_not_handed_to_it(tmp_path, monkeypatch):
    # valid for CPython, but libcst 1.0.1 is super-linear on them (a 1,500-call chain: seconds;
    # 2,000: tens of seconds): the depth guard keeps them away from libcst altogether
    import libcst

    parsed: list[str] = []
    real = libcst.parse_module

    def spy(source, *args, **kwargs):
        parsed.append(source.decode() if isinstance(source, bytes) else source)
        return real(source, *args, **kwargs)

    monkeypatch.setattr(libcst, "parse_module", spy)
    write(tmp_path, {
        "main.py": "import app_chain, app_calls, ok\n",
        "app_chain.py": "import pymongo\nx = a" + ".b" * 400 + "\n",
        "app_calls.py": "import pika\nx = f" + "(1)" * 400 + "\n",
        "ok.py": "import psycopg\n",
    })
    f = analyze(tmp_path, ["python", "main.py"])
    assert f.clients == {"postgres"}
    n = notes(f)
    assert "skipped app_chain.py: expressions nested deeper than" in n
    assert "skipped app_calls.py: expressions nested deeper than" in n
    assert sorted(parsed) == ["import app_chain, app_calls, ok\n", "import psycopg\n"]


def test_undecodable_and_nul_files_do_not_raise(tmp_path):
    write(tmp_path, {
        "latin.py": b"# -*- coding: latin-1 -*-\nimport pymysql\ns = '\xe9'\n",
        "nul.py": b"import redis\x00\n",
        "bad_utf8.py": b"import pika\ns = '\xff\xfe'\n",
    })
    f = analyze(tmp_path, None)
    assert f.clients == {"mysql"}
    assert "skipped nul.py" in notes(f) and "skipped bad_utf8.py" in notes(f)


def test_max_files_bound(tmp_path):
    files = {f"mod_{i:03d}.py": "import os\nX = os.getenv('DB_HOST')\n" for i in range(60)}
    files["zz_last.py"] = "import pymongo\n"
    write(tmp_path, files)
    f = analyze(tmp_path, None, max_files=10)
    assert f.truncated is True
    assert "max_files=10" in notes(f)
    assert f.env_hosts == {"DB_HOST"}  # what was read before the bound is kept
    assert "mongo" not in f.clients
    assert len({e.file for e in f.evidence}) <= 10


def test_max_bytes_bound(tmp_path):
    write(tmp_path, {f"m{i}.py": "import redis\n" + "#" * 1000 + "\n" for i in range(20)})
    f = analyze(tmp_path, None, max_bytes=5_000)
    assert f.truncated is True
    assert "max_bytes=5000" in notes(f)
    assert f.clients == {"redis"}


def test_per_file_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(app_source, "MAX_FILE_BYTES", 1_000)
    write(tmp_path, {"huge.py": "import redis\n" + "x = 1\n" * 500, "small.py": "import pika\n"})
    f = analyze(tmp_path, None)
    assert f.truncated is True
    assert f.clients == {"rabbitmq"}
    assert "skipped huge.py" in notes(f)


def test_time_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(app_source, "MAX_SECONDS", -1.0)
    write(tmp_path, {"a.py": "import redis\n"})
    f = analyze(tmp_path, None)
    assert f.truncated is True
    assert "time bound" in notes(f)
    assert f.clients == set()


def test_not_a_folder_never_raises(tmp_path):
    f = analyze(tmp_path / "missing", ["python", "app.py"])
    assert isinstance(f, SourceFacts)
    assert "not a folder" in notes(f)


def test_symlinks_out_of_the_context_are_not_followed(tmp_path):
    outside = write(tmp_path / "outside", {"secret.py": "import pymysql\n", "pkg/mod.py": "import redis\n"})
    ctx = write(tmp_path / "ctx", {"main.py": "import secret\nimport pkg.mod\nimport psycopg\n"})
    (ctx / "secret.py").symlink_to(outside / "secret.py")
    (ctx / "pkg").symlink_to(outside / "pkg", target_is_directory=True)
    f = analyze(ctx, ["python", "main.py"])
    assert f.clients == {"postgres"}
    f = analyze(ctx, None)
    assert f.clients == {"postgres"}


def test_virtualenvs_and_tests_are_skipped_in_a_scan(tmp_path):
    write(tmp_path, {
        "app.py": "import pymysql\n",
        ".venv/lib/python3.11/site-packages/redis/__init__.py": "import pika\n",
        "env/pyvenv.cfg": "home = /usr\n",
        "env/lib/x.py": "import pymongo\n",
        "tests/test_app.py": "import requests\nrequests.get('https://api.github.com')\n",
        "node_modules/x/y.py": "import elasticsearch\n",
    })
    f = analyze(tmp_path, None)
    assert f.clients == {"mysql"}
    assert f.egress is False


# --------------------------------------------------------------------------- egress and hosts


def test_smtp_external_host_is_egress_but_a_project_mail_service_is_not(tmp_path):
    write(tmp_path, {
        "ext.py": "import smtplib\ns = smtplib.SMTP('smtp.gmail.com', 587)\n",
        "dev.py": "import smtplib\ns = smtplib.SMTP('mailhog', 1025)\n",
    })
    f = analyze(tmp_path, ["python", "ext.py"])
    assert f.egress is True
    assert ("ext.py", 2, "calls smtp.gmail.com (SMTP)") in ev(f)
    f = analyze(tmp_path, ["python", "dev.py"], service_names=frozenset({"mailhog"}))
    assert f.egress is False
    assert referenced_services(f) == {"mailhog"}


def test_http_client_to_a_project_service_is_not_egress(tmp_path):
    write(tmp_path, {"w.py": "import httpx\nhttpx.get('http://api:8000/jobs')\nhttpx.get('http://localhost:9/x')\n"})
    f = analyze(tmp_path, ["python", "w.py"], service_names=frozenset({"api"}))
    assert f.egress is False
    assert referenced_services(f) == {"api"}


def test_http_client_with_urls_from_env_is_unknown_not_egress(tmp_path):
    write(tmp_path, {"w.py": "import os, requests\nrequests.get(os.environ['TARGET_URL'])\n"})
    f = analyze(tmp_path, ["python", "w.py"])
    assert f.egress is False
    assert f.env_hosts == {"TARGET_URL"}
    assert "egress unknown" in notes(f)


def test_external_url_without_an_http_client_is_only_noted(tmp_path):
    write(tmp_path, {"w.py": "HELP = 'see https://docs.example-project.io/setup'\n"})
    f = analyze(tmp_path, ["python", "w.py"])
    assert f.egress is False
    assert "docs.example-project.io" in notes(f)


def test_flask_app_run_in_a_script(tmp_path):
    write(tmp_path, {"app.py": (
        "import os\nfrom flask import Flask\n\napp = Flask(__name__)\n\n"
        "if __name__ == '__main__':\n    app.run(host='0.0.0.0', port=int(os.environ.get('PORT', 5001)))\n")})
    f = analyze(tmp_path, ["python", "app.py"])
    assert f.serves_http is True
    assert f.port == 5001
    assert ("app.py", 7, "runs Flask server on port 5001 (env default)") in ev(f)


def test_script_that_defines_an_app_but_runs_no_server(tmp_path):
    write(tmp_path, {"seed.py": "from fastapi import FastAPI\napp = FastAPI()\nprint('seeding')\n"})
    f = analyze(tmp_path, ["python", "seed.py"])
    assert f.serves_http is False
    assert "does not run a server" in notes(f)


def test_uvicorn_run_in_a_script_follows_the_string_target(tmp_path):
    write(tmp_path, {
        "run.py": "import uvicorn\nuvicorn.run('svc.api:app', host='0.0.0.0', port=8080)\n",
        "svc/__init__.py": "",
        "svc/api.py": "from fastapi import FastAPI\nimport asyncpg\napp = FastAPI()\n",
    })
    f = analyze(tmp_path, ["python", "run.py"])
    assert f.serves_http is True
    assert f.port == 8080
    assert f.clients == {"postgres"}


# --------------------------------------------------------------------------- commands


def test_entrypoint_script_that_execs_its_arguments(tmp_path):
    write(tmp_path, {
        "docker-entrypoint.sh": "#!/bin/sh\nset -e\npython manage.py migrate\nexec \"$@\"\n",
        "svc.py": "from fastapi import FastAPI\nimport redis\napp = FastAPI()\n",
        "requirements.txt": "fastapi\n",
    })
    cmd = effective_command(None, '["/usr/local/bin/docker-entrypoint.sh"]',
                            '["poetry", "run", "uvicorn", "svc:app", "--host", "0.0.0.0", "--port", "9000"]')
    f = analyze(tmp_path, cmd)
    assert f.entrypoint == "svc:app (uvicorn)"
    assert f.port == 9000
    assert f.clients == {"redis"}


def test_start_script_with_continuation_lines(tmp_path):
    write(tmp_path, {
        "start.sh": ("#!/bin/bash\nset -euo pipefail\n./wait-for-it.sh db:5432 -t 30 -- echo ready\n"
                     "alembic upgrade head\nexec gunicorn \\\n  -k uvicorn.workers.UvicornWorker \\\n"
                     "  -b 0.0.0.0:8080 src.api:app\n"),
        "src/__init__.py": "",
        "src/api.py": "from starlette.applications import Starlette\napp = Starlette()\n",
        "pyproject.toml": "[project]\nname='x'\n",
    })
    f = analyze(tmp_path, ["/start.sh"])
    assert f.entrypoint == "src.api:app (gunicorn)"
    assert f.port == 8080
    assert ("start.sh", 5, "runs gunicorn src.api:app") in ev(f)
    assert ("src/api.py", 2, "Starlette app") in ev(f)


@pytest.mark.parametrize("command, entry, port", [
    (["python3.11", "-m", "uvicorn", "app.main:app", "--port=8001"], "app.main:app (uvicorn)", 8001),
    ("exec uvicorn app.main:app --port ${PORT:-8002}", "app.main:app (uvicorn)", 8002),
    (["tini", "--", "hypercorn", "app.main:app", "-b", "0.0.0.0:8003"], "app.main:app (hypercorn)", 8003),
    (["./wait-for-it.sh", "db:3306", "--", "uvicorn", "app.main:app"], "app.main:app (uvicorn)", 8000),
    (["fastapi", "run", "app/main.py", "--port", "8004"], "app/main.py (fastapi run)", 8004),
    (["sh", "-c", "cd /code && gunicorn app.main:app -b :8005 > /dev/null 2>&1"], "app.main:app (gunicorn)", 8005),
])
def test_python_server_commands(command, entry, port):
    f = analyze(APPS / "fastapi_pymysql", command)
    assert (f.entrypoint, f.port, f.serves_http) == (entry, port, True)
    assert f.clients == {"mysql"}


def test_port_from_env_without_default_is_unknown():
    f = analyze(APPS / "fastapi_pymysql", "uvicorn app.main:app --host 0.0.0.0 --port $PORT")
    assert f.serves_http is True
    assert f.port is None
    assert "environment variable" in notes(f)


def test_one_off_command(tmp_path):
    f = analyze(APPS / "django_site", ["python", "manage.py", "migrate"])
    assert f.serves_http is False
    assert "one-off" in notes(f)


def test_unknown_console_script_falls_back_to_a_scan():
    f = analyze(APPS / "discord_bot", ["run-my-bot"])
    assert f.language == "python"
    assert f.egress is True
    assert f.clients == {"mysql"}
    assert f.serves_http is False


# --------------------------------------------------------------------------- effective_command


@pytest.mark.parametrize("compose, ep, cmd, expected", [
    (None, None, None, None),
    (None, None, '["python", "app.py"]', ["python", "app.py"]),
    (None, None, ["python", "app.py"], ["python", "app.py"]),
    (None, None, "python app.py", "python app.py"),  # shell form stays a string
    ("uvicorn x:app --port 1", '["./entrypoint.sh"]', '["gunicorn", "x"]',
     ["./entrypoint.sh", "uvicorn", "x:app", "--port", "1"]),  # compose splits a string command, replaces CMD
    (["a", "b c"], None, "ignored", ["a", "b c"]),
    (None, "./run.sh --flag", '["ignored"]', "./run.sh --flag"),  # shell ENTRYPOINT ignores CMD
    ("ignored too", "./run.sh", None, "./run.sh"),
    (None, ["tini", "--"], "python app.py", ["tini", "--", "/bin/sh", "-c", "python app.py"]),
    (None, '["tini", "--"]', None, ["tini", "--"]),
    (None, '["python", ', None, '["python",'),  # invalid JSON: Docker treats it as shell form
    ([], None, '["python", "app.py"]', None),  # an empty command clears CMD
])
def test_effective_command(compose, ep, cmd, expected):
    assert effective_command(compose, ep, cmd) == expected


def test_effective_command_with_compose_entrypoint_drops_the_image_cmd():
    assert effective_command(None, '["old"]', '["python", "app.py"]', compose_entrypoint="sh -c 'x y'") == \
        ["sh", "-c", "x y"]
    assert effective_command(["--port", "1"], '["old"]', '["cmd"]', compose_entrypoint=["uvicorn"]) == \
        ["uvicorn", "--port", "1"]


def test_evidence_type_is_plain_data():
    e = Evidence("a.py", 1, "imports redis")
    assert (e.file, e.line, e.what) == ("a.py", 1, "imports redis")
    assert SourceFacts().clients == set() and SourceFacts().egress is False


def test_cd_in_the_command_decides_which_module_is_meant(tmp_path):
    write(tmp_path, {
        "main.py": "import pymysql\n",  # an unrelated main.py at the top
        "backend/main.py": "from fastapi import FastAPI\nimport asyncpg\napp = FastAPI()\n",
        "requirements.txt": "fastapi\n",
    })
    f = analyze(tmp_path, ["sh", "-c", "cd backend && uvicorn main:app --host 0.0.0.0"])
    assert f.clients == {"postgres"}
    assert ("backend/main.py", 3, "FastAPI app") in ev(f)
    f = analyze(tmp_path, ["uvicorn", "main:app"])
    assert f.clients == {"mysql"}


def test_celery_worker_of_a_web_app_module_does_not_serve_http(tmp_path):
    write(tmp_path, {"tasks.py": (
        "from celery import Celery\nfrom flask import Flask\n\napp = Flask(__name__)\n"
        "celery = Celery(app.name, broker='amqp://guest:guest@rabbit:5672//')\n")})
    f = analyze(tmp_path, ["celery", "-A", "tasks.celery", "worker"], service_names=frozenset({"rabbit"}))
    assert f.serves_http is False
    assert f.clients == {"rabbitmq"}
    assert "the command runs a worker" in notes(f)
    assert referenced_services(f) == {"rabbit"}


def test_console_script_from_pyproject(tmp_path):
    write(tmp_path, {
        "pyproject.toml": '[project]\nname = "bot"\n[project.scripts]\nrun-bot = "mybot.cli:main"\n',
        "mybot/__init__.py": "",
        "mybot/cli.py": "import telebot\nimport pymongo\n",
        "mybot/unused.py": "import redis\n",
    })
    f = analyze(tmp_path, ["run-bot"])
    assert f.entrypoint == "run-bot (mybot.cli:main)"
    assert f.egress is True
    assert f.clients == {"mongo"}


def test_service_names_keep_their_spelling(tmp_path):
    write(tmp_path, {"a.py": "import redis\nr = redis.Redis(host='Cache-1')\n"})
    f = analyze(tmp_path, ["python", "a.py"], service_names=frozenset({"Cache-1"}))
    assert referenced_services(f) == {"Cache-1"}
    assert f.egress is False


def test_aiohttp_webhook_server_in_a_bot(tmp_path):
    write(tmp_path, {"bot.py": (
        "from aiohttp import web\nfrom aiogram import Bot\n\napp = web.Application()\n"
        "web.run_app(app, host='0.0.0.0', port=8443)\n")})
    f = analyze(tmp_path, ["python", "bot.py"])
    assert f.serves_http is True and f.port == 8443 and f.egress is True
    assert ("bot.py", 4, "aiohttp app") in ev(f)


def test_port_from_argparse_default_and_from_the_command(tmp_path):
    write(tmp_path, {
        "pyproject.toml": '[project]\nname = "inv"\n[project.scripts]\ninv-api = "inv.cli:main"\n',
        "inv/__init__.py": "",
        "inv/cli.py": ("import argparse\n\nimport uvicorn\n\n\ndef main():\n    p = argparse.ArgumentParser()\n"
                       "    p.add_argument('--port', type=int, default=8080)\n    a = p.parse_args()\n"
                       "    uvicorn.run('inv.web:app', host='0.0.0.0', port=a.port)\n"),
        "inv/web.py": "from fastapi import FastAPI\nimport motor\napp = FastAPI()\n",
    })
    f = analyze(tmp_path, ["inv-api"])
    assert (f.serves_http, f.port, f.clients) == (True, 8080, {"mongo"})
    assert ("inv/cli.py", 10, "runs uvicorn server on port 8080 (option default)") in ev(f)
    f = analyze(tmp_path, ["inv-api", "--port", "9090"])
    assert f.port == 9090
