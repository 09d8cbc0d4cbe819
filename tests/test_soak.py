"""Soak: harden over real projects (issue 14, "never damage a real project").

Every folder of the corpus (``<repo>/../shared/corpus``, or ``$HARDEN_CORPUS``; see its
SOURCES.md) is one test, ``test_soak[<case>]``. Without a corpus the test skips, and fails when
``CI`` is set. Run only the soak with ``pytest -m soak``, or outside pytest with
``python scripts/soak.py [CASE...]``. The machinery is in tests/soak_lib.py.

For each case, on temporary copies (the corpus is only read), harden runs as a subprocess
(``python -m harden``, HOME and XDG_CACHE_HOME in the temporary folder: a cold facts cache, nothing
written outside it): ``apply`` twice on one copy, ``diff`` on a second, ``diff --format json`` on
a third. The test fails on any damage:

- run: an exit code other than 0/1/2, or a Python traceback. Exit 2 (harden refusing or failing
  a transform) is not damage; the summary lists the cases where it happened.
- yaml: a changed compose file that parsed before (PyYAML, unknown tags such as ``!reset``
  accepted) no longer parses. Compose files are found independently of harden: names
  ``(docker-)?compose*.y(a)ml``, and any other YAML file whose top-level ``services:`` is a mapping
  of service mappings (local.yml, jibri.yml, overrides/*.yaml, include targets).
- compose: a combination of compose files that ``config`` accepted before is rejected after, by
  Compose v2 (default profiles, and ``--profile '*'`` when a file of it has profiles) or by
  docker-compose 1.29 where installed. The combinations, enumerated without harden's model: each
  file alone; per folder the set a bare ``docker compose up`` loads (Compose's default-file and
  override search); per folder its default file + each other file there; each file + the default
  file of its nearest ancestor folder; multi-file ``docker compose -f A -f B`` commands found in
  the project's docs and scripts. Each runs from, and with ``--project-directory``, its first
  file's folder. Missing ``env_file:`` paths get empty files (in both states; harden never sees
  them). When a combination fails only because of variables without a default, it is checked
  with each such variable set to a placeholder ("1"), before and after alike. Only combinations
  with a file harden changed (or that pull files in through ``extends``/``include``) are run: the
  others read the same bytes before and after. At most ``MAX_COMBOS`` per case.
- depends: in the resolved model (``config --format json``) of such a combination, a
  ``depends_on`` entry naming a service that is not there, or ``condition: service_healthy`` on a
  service with no healthcheck (none in the model, none in the Dockerfile stage it builds). Only
  findings that were not there before harden ran count, and a service_healthy wait on a service
  that something already waited on healthy before is the project's claim, not harden's.
- idempotent: a second ``apply`` changes any byte of the tree.
- git-apply: ``harden diff`` of a fresh copy, applied there with ``git apply -p1``, is not the
  tree ``apply`` wrote, byte for byte (CRLF included); or diff's exit code disagrees with apply.
- comments: a comment line (stripped text starting with ``#``) of a changed file is missing from
  its output (compared as a multiset of stripped lines).
- hadolint: a changed Dockerfile has a finding (code, stripped text of the line it points at)
  that the original did not have; run from an empty folder, so no project config applies.

Coverage table (printed at the end of the run, in pytest's terminal summary; also written to
``$HARDEN_SOAK_REPORT`` when set), from each case's ``harden diff --format json``:

- a *unit* is a distinct (case, file, part) for one transform; part is a service (compose), a
  stage (``stage <alias|index>``, Dockerfile), another part name harden reports in an outcome
  (``networks``), or none (the whole file/unit);
- *changed*: for every change range in ``files[].changes`` and every transform in its
  ``transforms``, the part of the original file the range lies in (by its ``line``: the service
  block or the stage that holds it; a pure insertion that starts in column 0 of a compose file is
  a new top-level key, part none). A transform's top-level changes in a file count as one unit
  (part none) only when none of its changes in that file lies in a part;
- *skipped*: every ``skipped`` outcome of the transform, whole-unit (part null) or per part;
- *eligible* = changed ∪ skipped (a unit both changed and skipped counts as changed);
  ``suppressed`` (pragma or config) and ``unchanged`` outcomes are not eligible; ``failed`` ones
  are shown in their own column and are not in eligible;
- outcomes of transform ``harden`` (the tool's own skips: unreadable build, include not followed)
  are not a transform's units; their reasons are listed with the others.

Below the table: each transform's refusal reasons, grouped after replacing names, images,
quoted values, paths and numbers with placeholders, with counts and one raw example.

Practice table (issue 16; printed after the coverage table and written with it): coverage per
*practice*, as a user of the project sees it. Eligibility and "done" come from the soak's own
reading of the files and of Compose's resolved models, never from harden's reasoning; the
targets are goals and never fail the soak. Each row: done / eligible, %, how many were already
done before harden ran (*already*) and how many harden made done (*by harden*), the target and
PASS/below. Then, per row, the eligible units not done after harden, grouped by the reason
harden gave for them (see "reasons" below), with the units themselves; then what was left out
as not eligible.

- *Images.* A base image is named by its path (registry host, ``library/``, tag and digest
  dropped) and classified: a language runtime (python, pypy, node, bun, deno, golang, ruby,
  rails, php, JVMs (openjdk, eclipse-temurin, amazoncorretto, java, ...), dotnet aspnet/runtime/
  sdk, rust, ..., by path or by its last component: cimg/python, bitnami/node), an OS (debian,
  ubuntu, alpine, busybox, RHEL family and UBI, wolfi-base, ...), distroless (gcr.io/distroless,
  Chainguard), scratch; or not: a store (below), a dev tool, a server that runs as its own
  user or drops privileges itself (nginx, httpd, caddy, traefik, Elastic's images, grafana,
  ...), php with an fpm/apache tag, or unknown (also a name that still holds a variable). The
  root image of a stage is found through the earlier stages it is built FROM, with the ARG
  defaults declared before the first FROM.
- *application images non-root.* Units: the stages of a Dockerfile that run: the last stage,
  and every stage a compose ``build.target`` names (from the resolved models). Dockerfiles are
  found by name (``*dockerfile*``/``*containerfile*`` whose first instruction is FROM, outside
  ``.devcontainer``) and through ``build.dockerfile``. Eligible when the stage's root image is
  a runtime (php-cli, not fpm/apache), an OS, distroless or scratch. Done when a USER that is
  not root (``root``, ``0``) is in force in the stage after harden: the last USER of the stage
  or of the stages it is built FROM (a USER still holding a variable counts as not root), or,
  without one, a base known to run as another user (cimg/circleci, Chainguard, distroless
  ``nonroot``). A compose ``user:`` does not count: the image itself still runs as root. Not
  eligible either: a last stage whose ENTRYPOINT runs a shell script of the build context (found
  by the source of the COPY that puts it there, else by name) that switches user on a line of
  its own (``gosu``, ``su-exec``, ``su app -c``, ``setpriv --reuid``, ``runuser -u``, ``chpst
  -u``, ``s6-setuidgid``, ``sudo -u``): it starts as root on purpose and runs the app as another
  user, as php-fpm does, and a USER would break it.
- *single-stage Python / Node Dockerfiles split.* Units: Dockerfiles with one FROM whose root
  image is a Python runtime (python, pypy, cimg/python, uv's python images, ...) or a Node one
  (node, bun, ...), and with a RUN that installs dependencies (pip with a requirements file,
  the project or a package other than pip/setuptools/wheel/poetry...; poetry/pipenv/pdm
  install, uv sync / uv pip; npm/pnpm ci/install/add without ``-g``, yarn [install|add], bun
  install). Done when it has at least two stages after harden. A test or CI image is not
  eligible (like dev tools in a test stack): one that only compose files named as test or CI
  stacks build (the dev-profiles name rule), or whose last stage's CMD/ENTRYPOINT, or a shell
  script of the build context it names, runs a test runner or linter on a line of its own
  (``npm run test:e2e``, ``npm run lint``, ``jest``, ``pytest``, ``go test``): it runs against its
  dev dependencies, so a production stage without them is not what it is for.
- *Compose units* come from the resolved model (``docker compose config --format json``) of
  the combinations the compose check enumerates that Compose v2 accepts (with placeholder
  variables when needed), less the pairings nobody runs: each file alone, Compose's default
  (``docker compose up``), the documented commands, and a pairing (default file + sibling,
  ancestor's default file + file) unless Compose accepts both of its files alone (then they
  are two projects, like kutt's alternative docker-compose.postgres.yml; an overlay such as
  frappe's overrides/, or a file that needs one, like zulip's compose.yaml, is combined).
  The checked combinations are read before and after harden (every profile (``--profile
  '*'``) when a file has profiles); the ones harden left alone from one model (the same
  bytes before and after; their builds are read from the tree they stand for), skipping one
  in which a service has no image, build or extends in any file (Compose rejects it).
  A service is counted under the file of its combination (or a file that one includes) that
  first declares it, so a service seen in several combinations is one unit; it is *done* only
  when it is done in every combination it is seen in, before and after alike.
- *Stores*: a service whose image (the root image of the Dockerfile stage it builds, or that
  another service of the case builds under the image name it runs (by reference, path, or
  the path's last component: dfir-iris runs ``ghcr.io/dfir-iris/iriswebapp_db``, which its dev
  file builds FROM postgres), else its ``image``) is of a database, cache, broker or search
  family by a token of its path
  (postgres/postgresql/postgis/timescaledb, mysql/percona, mariadb, mongo/mongodb, redis/
  redis-stack, valkey, keydb, dragonfly, memcached, rabbitmq, elasticsearch, opensearch,
  clickhouse, cassandra, couchdb, neo4j, influxdb, mssql, nats, kafka, ...; so
  ``zulip/zulip-postgresql`` and ``sqshq/piggymetrics-mongodb`` are stores, ``mongo-express``
  and ``postgres-exporter`` are not), and that runs the server: not a helper whose entrypoint/
  command (the model's, else the Dockerfile's) runs something else (``chown``, ``psql``, a
  setup script; a shell or a script of the build context that starts the server, or one the
  soak cannot read, counts as the server).
- *stores with a healthcheck.* Done when the store's model has a healthcheck (not disabled,
  test not NONE), or the Dockerfile stage it builds has a HEALTHCHECK (the depends check's rule).
- *depends_on edges to a store.* Units: (dependent service, store) for every ``depends_on``
  entry of a model whose target is a store (Compose adds ``links`` and ``network_mode:
  service:`` to depends_on: they are edges too). An edge harden adds is eligible (seen after
  only) and done by harden. Done when its condition is ``service_healthy``.
- *stores sharing no network with a published service.* A service *publishes* when it has a
  port entry not bound to 127.0.0.1/::1 (a port without a host port is published on a random
  one) or runs in the host's network. A store is *exposed* when it shares a network (its
  ``networks``, ``default`` without any; ``network_mode: service:X`` shares X's) with a
  published service that is not a store or a dev tool and does not use it; or when it runs in
  the host's network. A service *uses* a store when it lists it in depends_on or links, names
  one of its host names (name, hostname, container_name, aliases) in its environment (env
  files included), command or entrypoint, or, when it builds from a local context, in that
  context's own files the way a host is written (``'db'``, ``DB_HOST=db``, ``@db``, ``//db``,
  ``db:5432``; compose files, docs and lockfiles aside). Done when not exposed. A store's own
  published port and the dev tools that reach the stores are not this practice's concern.
- *dev tools in a profile.* Dev tools: services running a database UI or mail catcher
  (adminer, phpmyadmin, pgadmin, mailhog, mailpit, maildev, mailcatcher, smtp4dev,
  redis-commander, redisinsight, mongo-express, pgweb, dbgate, cloudbeaver, kafdrop, kafka-ui,
  ...) by image, by what the Dockerfile they build installs or runs, or a ``prisma studio``
  command; a service that both builds and names its image is the project's own product, not
  a tool. Done when its ``profiles`` is not empty.
- *reasons.* For a unit not done after harden: "done before harden, not after" when harden
  undid it; else the first ``skipped``/``failed`` outcome of the practice's transform
  (non-root-user, split-stages, db-healthcheck, depends-healthy, networks, dev-profiles) in a
  file of a combination the unit was seen in: for its part (the stage; the service; the
  dependent of an edge), else for the whole file naming the store, else for the whole file;
  else one of harden's own outcomes for such a file; else "no reason given", saying whether
  harden reports nothing on the unit's file or what the transform reported there
  (unchanged/changed). Reasons are normalized as in the coverage table.
"""

from __future__ import annotations

import os

import pytest

import soak_lib

CORPUS = soak_lib.corpus_root()
CASES = soak_lib.case_names(CORPUS)
NO_CORPUS = "<no corpus>"

pytestmark = pytest.mark.soak


def _skip_or_fail(reason: str) -> None:
    if soak_lib.in_ci():
        pytest.fail(f"{reason} (CI is set: the soak must run)", pytrace=False)
    pytest.skip(reason)


class _SummaryPlugin:
    """Prints the soak's table in pytest's terminal summary (after the failures)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.section("harden soak")
        for line in self.text.rstrip("\n").splitlines():
            terminalreporter.write_line(line)


def _selected_cases(session: pytest.Session) -> list[str]:
    out = set()
    for item in session.items:
        spec = getattr(item, "callspec", None)
        if spec is not None and item.get_closest_marker("soak") and spec.params.get("case") in CASES:
            out.add(spec.params["case"])
    return sorted(out)


@pytest.fixture(scope="session")
def soak_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> soak_lib.SoakRun:
    """All selected cases, soaked at once (in parallel; each result depends on its case only)."""
    cases = _selected_cases(request.session)
    run = soak_lib.run_soak(cases, CORPUS, tmp_path_factory.mktemp("soak"))
    text = run.report_text()
    request.config.pluginmanager.register(_SummaryPlugin(text), "harden-soak-summary")
    target = os.environ.get("HARDEN_SOAK_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
    return run


@pytest.mark.parametrize("case", CASES or [NO_CORPUS])
def test_soak(case: str, request: pytest.FixtureRequest) -> None:
    if case == NO_CORPUS:
        _skip_or_fail(f"no corpus at {CORPUS} (put it beside the repository as shared/corpus, or set HARDEN_CORPUS)")
    soak_run: soak_lib.SoakRun = request.getfixturevalue("soak_run")
    r = soak_run.results[case]
    if r.not_run and soak_lib.in_ci():
        pytest.fail(f"{case}: checks not run under CI: {'; '.join(r.not_run)}", pytrace=False)
    for line in r.info:
        print(f"{case}: {line}")
    if r.failures:
        pytest.fail(r.render(), pytrace=False)
