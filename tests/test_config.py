"""The config file (.harden.toml / [tool.harden]) and its precedence: flag > file > default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harden_testlib import FIXTURES, run_harden
from harden.config import DEFAULT_OPTIONS, Options
from harden.errors import HardenError
from harden.settings import load_settings, parse_set

KNOWN = ["split-stages", "non-root-user", "db-healthcheck", "depends-healthy", "networks", "dev-profiles"]


def _load(tmp_path: Path, name: str, text: str, **kw) -> Options:
    (tmp_path / name).write_text(text)
    return load_settings(tmp_path, Options(), known=KNOWN, **kw)


def _error(tmp_path: Path, name: str, text: str) -> str:
    with pytest.raises(HardenError) as e:
        _load(tmp_path, name, text)
    return e.value.one_line()


def _copy(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(FIXTURES / name, dest)
    return dest


def _json(*args: str) -> tuple[int, dict, str]:
    p = run_harden(*args, "--format", "json")
    return p.returncode, (json.loads(p.stdout) if p.stdout else {}), p.stderr


# ------------------------------------------------------------------ loading
def test_no_config_gives_the_defaults(tmp_path):
    opts = load_settings(tmp_path, Options(), known=KNOWN)
    assert opts.select is None and opts.ignore == [] and opts.values == DEFAULT_OPTIONS and opts.services == {}


def test_harden_toml_every_section(tmp_path):
    opts = _load(tmp_path, ".harden.toml", """
select = ["non-root-user", "networks"]
ignore = ["networks"]
[options]
uid = 2000
backend_network = "private"
healthcheck_interval = "1m30s"
[services.worker]
role = "worker"
egress = true
port = 8080
talks_to = ["db", "cache"]
ignore = ["dev-profiles"]
""")
    assert opts.select == ["non-root-user", "networks"] and opts.ignore == ["networks"]
    assert opts.get("uid") == 2000 and opts.get("gid") == DEFAULT_OPTIONS["gid"]
    assert opts.get("backend_network") == "private" and opts.get("healthcheck_interval") == "1m30s"
    assert opts.service("worker") == {"role": "worker", "egress": True, "port": 8080, "talks_to": ["db", "cache"],
                                      "ignore": ["dev-profiles"]}
    assert opts.selected(KNOWN) == ["non-root-user"]


def test_pyproject_tool_harden(tmp_path):
    opts = _load(tmp_path, "pyproject.toml", '[project]\nname = "x"\n[tool.harden]\nignore = ["dev-profiles"]\n'
                                             '[tool.harden.options]\nuser = "svc"\n')
    assert opts.ignore == ["dev-profiles"] and opts.get("user") == "svc"


def test_pyproject_without_tool_harden_is_not_a_config(tmp_path):
    opts = _load(tmp_path, "pyproject.toml", '[project]\nname = "x"\n[tool.ruff]\nselct = 1\n')
    assert opts.values == DEFAULT_OPTIONS


def test_harden_toml_wins_over_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.harden.options]\nuid = 3000\n')
    opts = _load(tmp_path, ".harden.toml", '[options]\nuid = 4000\n')
    assert opts.get("uid") == 4000


def test_single_file_path_reads_the_config_of_its_folder(tmp_path):
    (tmp_path / ".harden.toml").write_text('[options]\nuid = 4000\n')
    (tmp_path / "Dockerfile").write_text("FROM alpine\n")
    assert load_settings(tmp_path / "Dockerfile", Options(), known=KNOWN).get("uid") == 4000


def test_explicit_config_file(tmp_path):
    cfg = tmp_path / "shared.toml"
    cfg.write_text('[options]\nuid = 5000\n')
    (tmp_path / ".harden.toml").write_text('[options]\nuid = 4000\n')
    assert load_settings(tmp_path, Options(), config=cfg, known=KNOWN).get("uid") == 5000
    with pytest.raises(HardenError, match="config file not found"):
        load_settings(tmp_path, Options(), config=tmp_path / "nope.toml", known=KNOWN)


# ------------------------------------------------------------------ errors: one line, file and line
@pytest.mark.parametrize("text, message", [
    ('selct = ["networks"]\n', ".harden.toml:1: unknown key 'selct' (did you mean 'select'?)"),
    ('[options]\nuid = 1\nuidd = 2\n', ".harden.toml:3: unknown key 'uidd' in [options] (did you mean 'uid'?)"),
    ('[services.web]\nrole = "web"\negres = true\n', ".harden.toml:3: unknown key 'egres' in [services.web] (did you mean 'egress'?)"),
    ('select = "networks"\n', '.harden.toml:1: select must be a list of transform names, e.g. ["split-stages"]'),
    ('ignore = ["netwrks"]\n', ".harden.toml:1: ignore: unknown transform 'netwrks' (did you mean 'networks'?) (known: "
                               "split-stages, non-root-user, db-healthcheck, depends-healthy, networks, dev-profiles)"),
    ('[options]\nuid = "1000"\n', ".harden.toml:2: [options] uid: must be an integer, not a string"),
    ('[options]\nuid = 0\n', ".harden.toml:2: [options] uid: 0 is root; use a non-root id (e.g. 10001)"),
    ('[options]\nhealthcheck_interval = "10"\n', ".harden.toml:2: [options] healthcheck_interval: '10' is not a duration like '10s', '1m30s' or '500ms'"),
    ('[options]\nbackend_network = "my net"\n', ".harden.toml:2: [options] backend_network: 'my net' is not a valid name (letters, digits, _ . -, starting with a letter or digit)"),
    ('[options]\nuser = "root"\n', ".harden.toml:2: [options] user: 'root' defeats the purpose; pick another name"),
    ('[services.db]\nport = 70000\n', ".harden.toml:2: [services.db] port: must be a port number between 1 and 65535"),
    ('[services.db]\negress = "yes"\n', ".harden.toml:2: [services.db] egress: must be true or false, not a string"),
    ('[services.ui]\ntalks_to = "db"\n', '.harden.toml:2: [services.ui] talks_to: must be a list of compose service names, '
                                         'e.g. ["db", "cache"] ([] for none)'),
    ('[services.db]\nrole = "databse"\n', ".harden.toml:2: [services.db] role: must be one of web, worker, database, cache, queue, proxy, devtool, other"),
    ('options = 3\n', ".harden.toml:1: 'options' must be a table ([options])"),
    ('select = [\n', "invalid TOML"),
])
def test_config_errors_name_file_line_and_key(tmp_path, text, message):
    got = _error(tmp_path, ".harden.toml", text)
    if "invalid TOML" in message:
        assert got.startswith(".harden.toml:") and "invalid TOML: " in got and "\n" not in got
    else:
        assert got == message


def test_invalid_toml_line(tmp_path):
    got = _error(tmp_path, ".harden.toml", '# settings\nselect = ["networks"]\n[options\nuid = 1\n')
    assert got.startswith(".harden.toml:3: invalid TOML: "), got


def test_pyproject_errors_name_the_tool_table(tmp_path):
    got = _error(tmp_path, "pyproject.toml", '[project]\nname = "x"\n\n[tool.harden]\nselct = []\n')
    assert got == "pyproject.toml:5: unknown key 'selct' in [tool.harden] (did you mean 'select'?)"
    got = _error(tmp_path, "pyproject.toml", '[tool.harden.options]\nvenv = "opt/venv"\n')
    assert got == "pyproject.toml:2: [tool.harden.options] venv: 'opt/venv' must be an absolute path"


def test_set_flag_parsing():
    assert parse_set("uid=1000") == ("uid", 1000)
    assert parse_set(" backend_network = db ") == ("backend_network", "db")
    for bad, msg in [("uid", "'uid' is not KEY=VALUE"), ("uid=x", "uid: must be an integer, not 'x'"),
                     ("uid=0", "uid: 0 is root"), ("netwrk=x", "unknown option 'netwrk'")]:
        with pytest.raises(HardenError) as e:
            parse_set(bad)
        assert e.value.one_line().startswith("--set: " + msg)


# ------------------------------------------------------------------ CLI: flag > file > default
def test_precedence_of_options(tmp_path):
    proj = _copy("cfg-toml", tmp_path)
    rc, out, err = _json("diff", str(proj))
    assert rc == 1, err
    app = next(f for f in out["files"] if f["path"] == "app/Dockerfile")["diff"]
    assert "--uid 2000" in app and "10001" not in app  # file > default
    rc, out, err = _json("diff", str(proj), "--set", "uid=3000")
    app = next(f for f in out["files"] if f["path"] == "app/Dockerfile")["diff"]
    assert "--uid 3000" in app and "--uid 2000" not in app  # flag > file
    assert "--gid 2000" in app  # the file still sets what the flag does not
    (proj / ".harden.toml").unlink()
    rc, out, err = _json("diff", str(proj))
    app = next(f for f in out["files"] if f["path"] == "app/Dockerfile")["diff"]
    assert "--uid 10001" in app  # default


def test_precedence_of_select_and_ignore(tmp_path):
    proj = _copy("cfg-toml", tmp_path)
    rc, out, err = _json("diff", str(proj))
    assert "dev-profiles" not in out["transforms"]  # ignore from the file
    rc, out, err = _json("diff", str(proj), "--ignore", "")
    assert "dev-profiles" in out["transforms"]  # --ignore '' clears the file's ignore
    rc, out, err = _json("diff", str(proj), "--select", "non-root-user,dev-profiles")
    assert out["transforms"] == ["non-root-user"]  # --select replaces select, the file's ignore stays
    rc, out, err = _json("diff", str(proj), "--select", "non-root-user", "--select", "dev-profiles", "--ignore", "non-root-user")
    assert out["transforms"] == ["dev-profiles"]


def test_file_select_and_flag_select(tmp_path):
    proj = _copy("cfg-pyproject", tmp_path)
    rc, out, err = _json("diff", str(proj))
    assert out["transforms"] == ["non-root-user"], err
    assert "4242" in out["files"][0]["diff"]
    rc, out, err = _json("diff", str(proj), "--select", "split-stages")
    assert out["transforms"] == ["split-stages"]


def test_service_overrides_reach_the_transforms(tmp_path):
    proj = _copy("cfg-toml", tmp_path)
    rc, out, err = _json("diff", str(proj))
    supp = [o for o in out["outcomes"] if o["status"] == "suppressed"]
    assert {"transform": "networks", "file": "compose.yaml", "status": "suppressed",
            "reason": "[services.worker] ignore in the config", "part": "worker", "line": None} in supp


def test_cli_config_error_is_one_line_exit_2(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM alpine\n")
    (tmp_path / ".harden.toml").write_text('selct = ["networks"]\n')
    p = run_harden("diff", str(tmp_path))
    assert p.returncode == 2
    assert p.stderr == "harden: error: .harden.toml:1: unknown key 'selct' (did you mean 'select'?)\n"
    assert p.stdout == ""
    (tmp_path / ".harden.toml").write_text('[options\n')
    p = run_harden("apply", str(tmp_path))
    assert p.returncode == 2 and p.stderr.startswith("harden: error: .harden.toml:1: invalid TOML: ")
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert (tmp_path / "Dockerfile").read_text() == "FROM alpine\n"


def test_cli_config_flag(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM alpine\nCMD [\"sh\"]\n")
    cfg = tmp_path / "other.toml"
    cfg.write_text('select = ["non-root-user"]\n[options]\nuid = 7777\ngid = 7777\n')
    rc, out, err = _json("diff", str(tmp_path), "--config", str(cfg))
    assert out["transforms"] == ["non-root-user"] and "7777" in out["files"][0]["diff"], err
    p = run_harden("diff", str(tmp_path), "--config", str(tmp_path / "missing.toml"))
    assert p.returncode == 2 and p.stderr.startswith("harden: error: ") and "config file not found" in p.stderr
