"""harden.start_script: the shell script a start command runs, followed back to the file the
image copied from the build context and read as start commands."""

from __future__ import annotations

from pathlib import Path

from harden.dockerfile_doc import DockerfileDoc
from harden.start_script import copies_of, follow, install_run, source_of, runs_tests


def _follow(tmp_path: Path, dockerfile: str, files: dict[str, str], starts=None):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    doc = DockerfileDoc("Dockerfile", dockerfile)
    st = doc.stages[-1]
    copies, wd = copies_of(st.instructions)
    if starts is None:
        starts = [(i.value, f"{i.instruction} at line {i.startline + 1}") for i in st.instructions
                  if i.instruction in ("CMD", "ENTRYPOINT")]
    return follow(starts, copies, tmp_path, wd)


def _texts(f, conditional=None):
    return [c.text for c in f.commands if conditional is None or c.conditional == conditional]


def test_a_copied_script_is_read_as_start_commands(tmp_path):
    f = _follow(tmp_path, "FROM node:20\nWORKDIR /app\nCOPY ./startup.sh /opt/startup.sh\nCMD [\"/opt/startup.sh\"]\n",
                {"startup.sh": "#!/usr/bin/env bash\nset -e\n# migrate first\n/opt/wait-for-it.sh db:5432\n"
                               "npm run migration:run\nnpm run start:prod > prod.log 2>&1 &\nexec node dist/main\n"})
    assert _texts(f) == ["set -e", "npm run migration:run", "npm run start:prod", "node dist/main"]
    assert f.commands[1].where == "CMD at line 4 -> startup.sh line 5"
    assert f.commands[2].writes == ["prod.log"] and f.commands[2].cwd == "/app"
    assert not f.unknown and f.scripts == ["startup.sh"]


def test_the_ways_a_start_runs_a_script(tmp_path):
    files = {"bin/start.sh": "npm start\n", "entry.sh": "#!/bin/sh\nyarn serve\n"}
    cases = [
        # `sh x.sh` relative to the working directory, which `COPY . .` filled
        ("WORKDIR /srv\nCOPY . .\nCMD [\"sh\", \"bin/start.sh\"]\n", ["npm start"]),
        ("WORKDIR /srv\nCOPY . .\nCMD ./bin/start.sh\n", ["npm start"]),
        # a file copied into a folder of PATH, run by its bare name
        ("COPY entry.sh /usr/local/bin/\nENTRYPOINT [\"entry.sh\"]\n", ["yarn serve"]),
        # copied into an existing folder without a trailing slash
        ("COPY entry.sh /usr/local/bin\nCMD [\"bash\", \"/usr/local/bin/entry.sh\"]\n", ["yarn serve"]),
        # not a file the image copied (the base image's own entrypoint): nothing to follow
        ("CMD [\"docker-entrypoint.sh\", \"node\"]\n", []),
    ]
    for k, (df, want) in enumerate(cases):
        d = tmp_path / str(k)
        d.mkdir()
        got = _follow(d, "FROM node:20\n" + df, files)
        assert _texts(got) == want, (df, got)
        assert not got.unknown, (df, got)


def test_waits_are_skipped_and_what_they_run_after_dashes_is_followed(tmp_path):
    f = _follow(tmp_path, "FROM node:20\nCOPY . /app\nCMD [\"/app/run.sh\"]\n",
                {"run.sh": "#!/bin/sh\n/app/wait-for-it.sh db:5432 -t 30 -- npm run seed\ndockerize -wait tcp://db:5432\n"
                           "exec \"$@\"\n",
                 "wait-for-it.sh": "#!/bin/bash\nwait_for() { while true; do sleep 1; done; }\n"})
    assert _texts(f) == ["npm run seed"] and not f.unknown


def test_conditions_loops_and_functions_may_run(tmp_path):
    f = _follow(tmp_path, "FROM node:20\nCOPY start.sh /start.sh\nCMD [\"/start.sh\"]\n",
                {"start.sh": "#!/bin/sh\nif [ -n \"$MIGRATE\" ]; then\n  npm run migrate\nfi\n"
                             "[ -f .seeded ] || npm run seed\n"
                             "[ -f .env ] && npm run env-check\n"
                             "boot() {\n  npx prisma generate\n}\nnode server.js\n"})
    assert _texts(f, conditional=True) == ["npm run migrate", "npm run seed", "npm run env-check",
                                            "npx prisma generate"]
    assert _texts(f, conditional=False) == ["node server.js"]


def test_shapes_harden_cannot_follow_are_unknown_and_name_the_script(tmp_path):
    shapes = {
        ". ./env.sh\nnpm start\n": "sources or evaluates",
        "$RUNNER start\n": "variable as a command",
        "case \"$1\" in\n  web) npm start ;;\nesac\n": "`case`",
        "cat <<EOF\nx\nEOF\n": "here-document",
    }
    for k, (body, why) in enumerate(shapes.items()):
        d = tmp_path / str(k)
        d.mkdir()
        f = _follow(d, "FROM node:20\nCOPY docker/ /docker/\nCMD [\"/docker/start.sh\"]\n",
                    {"docker/start.sh": "#!/bin/sh\n" + body})
        assert f.unknown and why in f.unknown[0] and "docker/start.sh" in f.unknown[0], (body, f.unknown)
    # a copy harden cannot read the source of
    f = _follow(tmp_path / "0", "FROM node:20\nADD https://example.com/start.sh /opt/start.sh\nCMD [\"/opt/start.sh\"]\n", {})
    assert f.unknown and "/opt/start.sh" in f.unknown[0]


def test_a_script_run_by_another_shebang_is_a_program(tmp_path):
    f = _follow(tmp_path, "FROM python:3.12\nCOPY . /app\nCMD [\"/app/manage.py\", \"runserver\"]\n",
                {"manage.py": "#!/usr/bin/env python\nimport os\n"})
    assert not f.commands and not f.unknown


def test_source_of(tmp_path):
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "entry.sh").write_text("x")
    (tmp_path / "start.sh").write_text("x")
    doc = DockerfileDoc("Dockerfile", "FROM alpine\nWORKDIR /app\nCOPY . .\nCOPY docker/entry.sh /entry.sh\n"
                                      "COPY --from=build /out/run.sh /run.sh\n")
    copies, wd = copies_of(doc.stages[0].instructions)
    assert wd == "/app"
    assert source_of("/app/start.sh", copies, tmp_path) == (tmp_path / "start.sh", True)
    assert source_of("/app/docker/entry.sh", copies, tmp_path) == (tmp_path / "docker" / "entry.sh", True)
    assert source_of("/entry.sh", copies, tmp_path) == (tmp_path / "docker" / "entry.sh", True)
    assert source_of("/run.sh", copies, tmp_path) == (None, False)  # another stage made it


def test_test_run_and_install_run():
    for cmd in ("npm test", "npm run test:e2e -- --runInBand", "npm run lint", "yarn lint", "pnpm test", "npx jest",
                "jest --ci", "pytest -q", "python -m pytest", "python manage.py test", "go test ./...",
                "bundle exec rspec", "vendor/bin/phpunit"):
        assert runs_tests(cmd.split()), cmd
    for cmd in ("npm start", "npm run start:prod", "node dist/main", "python manage.py migrate", "gunicorn app:app",
                "yarn build"):
        assert runs_tests(cmd.split()) is None, cmd
    assert runs_tests(["yarn", "lint"], {"start": "x"}) is None  # yarn X runs a script only when there is one
    for cmd in ("npm install", "npm ci", "yarn", "yarn install --frozen-lockfile", "pnpm i", "pip install -r r.txt",
                "python -m pip install .", "poetry install", "uv sync", "bundle install", "composer install"):
        assert install_run(cmd.split()), cmd
    for cmd in ("npm start", "pip install --user x", "yarn start", "bundle exec puma", "composer dump-autoload"):
        assert install_run(cmd.split()) is None, cmd


# ------------------------------------------------- a script a compose service bind-mounts over


def test_a_bind_mounted_script_is_followed_beside_the_image_copy(tmp_path):
    """compose runs what a service bind-mounts over the image's script, `docker run` the image's
    own copy: both are read. The build context's own file mounted back (`.:/app`) is read once; a
    mount harden cannot place on the host makes the start unknown, naming the service."""
    from harden.start_script import Mount

    files = {"start.sh": "#!/bin/sh\nexec node server.js\n", "dev/start.sh": "#!/bin/sh\nnpm install\nexec npm run dev\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    doc = DockerfileDoc("Dockerfile", "FROM node:20\nWORKDIR /app\nCOPY . .\nCOPY start.sh /opt/start.sh\n"
                                      "CMD [\"/opt/start.sh\"]\n")
    copies, wd = copies_of(doc.stages[-1].instructions)
    starts = [('["/opt/start.sh"]', "CMD at line 5")]
    f = follow(starts, copies, tmp_path, wd, [Mount("/opt/start.sh", tmp_path / "dev" / "start.sh", "api")])
    assert _texts(f) == ["npm install", "npm run dev", "node server.js"]
    assert f.commands[0].where == "CMD at line 5 (bind-mounted by compose service api) -> dev/start.sh line 2"
    assert f.commands[2].where == "CMD at line 5 -> start.sh line 2"
    # the whole context mounted at the working directory: the same file, read once
    f = follow([("sh ./start.sh", "CMD at line 5")], copies, tmp_path, wd, [Mount("/app", tmp_path, "web")])
    assert _texts(f) == ["node server.js"]
    f = follow(starts, copies, tmp_path, wd, [Mount("/opt", None, "api")])
    assert f.unknown == ["CMD at line 5 (bind-mounted by compose service api) runs the script /opt/start.sh, "
                         "which harden cannot read on the host"]
    assert _texts(f) == ["node server.js"]


def test_non_root_user_reads_the_script_compose_mounts_over_the_image_one(tmp_path):
    """The image's start script only starts the app, but the compose service bind-mounts a dev
    script over it that runs `npm install` into the root-owned app folder: with a USER it would
    fail with EACCES, so non-root-user leaves the image and says which mounted script."""
    from harden_testlib import harden_run, write_files

    root = write_files(tmp_path / "p", {
        "Dockerfile": "FROM node:20-slim\nWORKDIR /usr/src/app\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\n"
                      "COPY start.sh /opt/start.sh\nCMD [\"/opt/start.sh\"]\n",
        "package.json": '{"name": "x", "version": "1.0.0", "scripts": {"start": "node server.js"}}\n',
        "server.js": "require('http').createServer((q, s) => s.end('ok')).listen(3000)\n",
        "start.sh": "#!/bin/sh\nexec node server.js\n",
        "scripts/dev-start.sh": "#!/bin/sh\nnpm install\nexec node server.js\n",
        "compose.yaml": "services:\n  api:\n    build: .\n    ports:\n      - '3000:3000'\n    volumes:\n"
                        "      - ./scripts/dev-start.sh:/opt/start.sh\n",
    })
    res = harden_run(root, select=["non-root-user"])
    assert not res.changed_files
    why = [o.reason for o in res.outcomes if o.transform == "non-root-user" and o.status == "skipped"]
    assert why and "bind-mounted by compose service api" in why[0] and "npm install" in why[0], why
