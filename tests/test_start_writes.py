from __future__ import annotations

import pytest

from harden.start_writes import resolve, written_files


@pytest.mark.parametrize("command, expected", [
    ("celery -A w worker --logfile=logs/celery.log", [("logs/celery.log", "`celery --logfile`")]),
    ("celery -A w worker -f /var/log/w.log -l info", [("/var/log/w.log", "`celery --logfile`")]),
    (["gunicorn", "app:app", "--pid", "/run/g.pid", "--access-logfile", "-"], [("/run/g.pid", "`gunicorn --pid`")]),
    ("python -m celery -A w beat", [("celerybeat-schedule", "Celery beat's schedule file (its default --schedule)")]),
    ("celery -A w beat -s /data/schedule", [("/data/schedule", "`celery --schedule`")]),
    ("celery -A w beat -S redbeat.RedBeatScheduler", []),
    ('["celery", "-A", "w", "worker", "--pidfile=/tmp/w.pid"]', [("/tmp/w.pid", "`celery --pidfile`")]),
    ("sh -c 'cd /app && exec celery -A w worker --logfile=/log/w.log'", [("/log/w.log", "`celery --logfile`")]),
    ("uvicorn main:app --host 0.0.0.0 --reload", []),
    ("celery -A w worker -s x", []),  # -s is beat's option; a worker has no schedule file
    ("gunicorn app:app --error-logfile /dev/stderr", []),
    ("echo 'unclosed", []),
    (None, []),
])
def test_written_files(command, expected):
    assert written_files(command) == expected


def test_resolve():
    assert resolve("logs/x.log", "/usr/src/app") == "/usr/src/app/logs/x.log"
    assert resolve("/var/log/../log/x", "/app") == "/var/log/x"
    assert resolve("x", "") == "/x"
