"""The checks, shared by every example's test module.

``OriginalChecks`` asserts that the failures harden exists for really happen in the example
as written (a check that cannot fail proves nothing). ``HardenedChecks`` asserts that after
``harden apply`` the project still builds and runs, and that each promise holds.

A test module subclasses both as ``TestOriginal`` / ``TestHardened`` and sets ``example`` (and
``compose_cli = V1`` to drive the stacks with docker-compose 1.29 instead of Compose v2).
Tests run in definition order; the class-scoped stack stays up for the whole class.
"""

from __future__ import annotations

import json
import time

import pytest

import e2e_lib
from e2e_lib import Example, Stack, log

pytestmark = pytest.mark.e2e


def _start_time(info: dict):
    return e2e_lib.parse_time(info["State"]["StartedAt"])


class OriginalChecks:
    example: Example
    compose_cli: str = e2e_lib.V2

    def test_app_runs_as_root(self, original: Stack):
        for svc in self.example.app_services:
            uid = original.image_uid(svc)
            log(f"original {svc}: runs as uid {uid}")
            assert uid == 0, f"{svc}: expected the unhardened image to run as root, got uid {uid}"

    def test_image_ships_a_compiler(self, original: Stack):
        for svc in self.example.app_services:
            found = original.compilers_in_image(svc)
            size = e2e_lib.size_mb(original.image_of(svc))
            log(f"original {svc}: {size:.0f} MB, compilers: {found}")
            assert any(f.startswith("gcc=") for f in found), f"{svc}: no gcc in the original image"

    def test_startup_connector_crashes_without_healthcheck(self, original: Stack):
        if not self.example.startup_connectors:
            pytest.skip("no service in this example connects once at start-up")
        for svc in self.example.startup_connectors:
            info = original.wait_exited(svc, timeout=60)
            assert info is not None, f"{svc}: no container"
            state = info["State"]
            logs = original.logs(svc)
            log(f"original {svc}: status={state['Status']} exit={state['ExitCode']} "
                f"restarts={info['RestartCount']}")
            assert state["Status"] == "exited" or info["RestartCount"] > 0, (
                f"{svc} did not crash although its database was not ready:\n{logs[-2000:]}"
            )
            assert state["ExitCode"] != 0, f"{svc} exited 0:\n{logs[-2000:]}"
            assert any(m in logs for m in ("Can't connect", "ECONNREFUSED", "not ready",
                                           "Connection refused", "connect")), (
                f"{svc} crashed, but not because the database was unreachable:\n{logs[-3000:]}"
            )

    def test_dependents_start_before_stores_accept_connections(self, original: Stack):
        """A bare `depends_on` waits for the container, not for the server inside it."""
        checked = 0
        for dependent, store in self.example.waits:
            marker = self.example.ready_markers.get(store)
            if not marker:
                continue  # starts too fast to show the race reliably (e.g. redis)
            ready = original.first_log_time(store, marker)
            started = _start_time(original.require_container(dependent))
            log(f"original: {dependent} started {started.time()}, {store} serving from {ready.time()}")
            assert started < ready, (
                f"{dependent} started at {started}, after {store} began serving ({ready}): "
                "the race harden's healthcheck prevents did not happen"
            )
            checked += 1
        if not checked:
            pytest.skip("no store with a readiness marker")

    def test_stores_have_no_healthcheck(self, original: Stack):
        for store in self.example.stores:
            info = original.require_container(store)
            assert "Health" not in info["State"], f"{store} already has a healthcheck"

    def test_store_ports_published_on_all_interfaces(self, original: Stack):
        for store in self.example.stores:
            bindings = original.published_bindings(store)
            log(f"original {store}: published {bindings}")
            assert e2e_lib.exposed(bindings), f"{store} is not published on all interfaces: {bindings}"

    def test_stores_reachable_from_the_public_side(self, original: Stack):
        web = original.require_container(self.example.web_service)
        public = sorted(web["NetworkSettings"]["Networks"])
        targets = [(store, port) for store, port in self.example.stores.items()]
        for net in public:
            # the store may still be initialising: retry until it listens
            deadline = time.monotonic() + 90
            while True:
                result = original.tcp_probe(net, targets)
                if all(v == "open" for v in result.values()) or time.monotonic() > deadline:
                    break
                time.sleep(2)
            log(f"original: from a container on {net}: {result}")
            for store, port in targets:
                assert result[f"{store}:{port}"] == "open", (
                    f"{store}:{port} not reachable from {net} in the original: {result}"
                )

    def test_web_answers_with_data_from_the_db(self, original: Stack):
        if self.example.web_service in self.example.startup_connectors:
            pytest.skip(f"{self.example.web_service} crashes at start-up in the original")
        status, body = original.http_get(self.example.web_port_var, self.example.web_path)
        assert status == 200 and self.example.web_expect in body, (status, body[:2000])

    def test_dev_tools_run_after_plain_up(self, original: Stack):
        if not self.example.dev_tools:
            pytest.skip("no dev tool in this example")
        for tool in self.example.dev_tools:
            info = original.container(tool)
            assert info is not None and info["State"]["Running"], (
                f"{tool} should run after a plain `up` in the original"
            )


class HardenedChecks:
    example: Example
    compose_cli: str = e2e_lib.V2

    def test_harden_changed_the_project(self, hardened: Stack):
        for name in ("Dockerfile", "docker-compose.yml"):
            before = (e2e_lib.EXAMPLES / self.example.name / name).read_text()
            after = (hardened.dir / name).read_text()
            assert before != after, f"harden apply left {name} unchanged"

    def test_harden_reports_no_failed_transform(self, hardened: Stack):
        failed = [line for line in hardened.harden_output.splitlines()
                  if line.lower().startswith(("failed", "error"))]
        assert not failed, "harden apply reported:\n" + "\n".join(failed)

    def test_images_build(self, hardened: Stack):
        # the fixture built them; this reports sizes and names the stage that was kept
        for svc in self.example.app_services:
            image = hardened.image_of(svc)
            log(f"hardened {svc}: {e2e_lib.size_mb(image):.0f} MB, User={image['Config'].get('User')!r}")

    def test_stores_report_healthy(self, hardened: Stack):
        for store in self.example.stores:
            info = hardened.wait_healthy(store, timeout=120)
            log(f"hardened {store}: {info['State']['Health']['Status']}")

    def test_dependents_wait_for_healthy_stores(self, hardened: Stack):
        config = hardened.config_doc()
        problems = []
        for dependent, store in self.example.waits:
            dep = (config.get("services") or {}).get(dependent) or {}
            cond = (dep.get("depends_on") or {})
            cond = cond.get(store) if isinstance(cond, dict) else None
            if not (isinstance(cond, dict) and cond.get("condition") == "service_healthy"):
                problems.append(f"{dependent}: depends_on {store} is {cond!r}, not service_healthy")
                continue
            dep_info = hardened.require_container(dependent)
            health = hardened.require_container(store)["State"].get("Health") or {}
            successes = [e2e_lib.parse_time(e["End"]) for e in health.get("Log") or []
                         if e.get("ExitCode") == 0]
            if not successes:
                problems.append(f"{store}: no successful health probe, yet {dependent} started")
                continue
            started = _start_time(dep_info)
            first_ok = min(successes)
            log(f"hardened: {store} first healthy probe {first_ok.time()}, {dependent} started {started.time()}")
            # the probe log keeps only the last 5 probes: a later first entry is inconclusive
            if len(health.get("Log") or []) < 5 and started < first_ok:
                problems.append(f"{dependent} started at {started} before {store} was healthy ({first_ok})")
        assert not problems, "\n".join(problems)

    def test_web_answers_on_localhost_with_data_from_the_db(self, hardened: Stack):
        status, body = hardened.http_get(self.example.web_port_var, self.example.web_path)
        log(f"hardened {self.example.web_service}: HTTP {status} {body[:200]}")
        assert status == 200 and self.example.web_expect in body, (status, body[:2000])

    def test_app_processes_run_as_non_root(self, hardened: Stack):
        uids = {}
        for svc in self.example.app_services:
            info = hardened.require_container(svc)
            if info["State"]["Running"]:
                uids[svc] = hardened.exec_uid(svc)
            else:
                uids[svc] = hardened.image_uid(svc)
        log(f"hardened uids: {uids}")
        assert all(uid != 0 for uid in uids.values()), f"running as root: {uids}"

    def test_production_image_has_no_compiler(self, hardened: Stack):
        found = {svc: hardened.compilers_in_image(svc) for svc in self.example.app_services}
        log(f"hardened compilers: {found}")
        assert not any(found.values()), f"compilers in the production image: {found}"

    def test_production_image_is_smaller(self, hardened: Stack, tmp_path_factory):
        sizes = {}
        for svc in self.example.app_services:
            key = (self.example.name, svc)
            if key not in e2e_lib.ORIGINAL_SIZES:
                # the ORIGINAL class did not run (e.g. -k): build the original image here
                orig = e2e_lib.open_stack(self.example, tmp_path_factory.mktemp("orig-size"), "size",
                                          self.compose_cli)
                try:
                    orig.build()
                    proc = orig.run(["docker", "image", "inspect", orig.image_name(svc)])
                    e2e_lib.ORIGINAL_SIZES[key] = json.loads(proc.stdout)[0]["Size"] / 1e6
                finally:
                    orig.down()
            sizes[svc] = (e2e_lib.ORIGINAL_SIZES[key], e2e_lib.size_mb(hardened.image_of(svc)))
        for svc, (before, after) in sizes.items():
            log(f"image size of {svc}: original {before:.0f} MB -> hardened {after:.0f} MB")
            print(f"{self.example.name} {svc}: original {before:.0f} MB, hardened {after:.0f} MB")
        bigger = {s: v for s, v in sizes.items() if v[1] >= v[0]}
        assert not bigger, f"hardened image not smaller (MB before, after): {bigger}"

    def test_frontend_cannot_reach_stores_backend_can(self, hardened: Stack):
        nets = hardened.networks()
        frontend, backend = f"{hardened.project}_frontend", f"{hardened.project}_backend"
        assert frontend in nets and backend in nets, f"networks of the project: {nets}"
        targets = []
        for store, port in self.example.stores.items():
            targets.append((store, port))
            ip = hardened.ip_on(store, backend)
            assert ip, f"{store} is not on {backend}"
            targets.append((ip, port))
        from_front = hardened.tcp_probe(frontend, targets)
        from_back = hardened.tcp_probe(backend, targets)
        log(f"hardened: from {frontend}: {from_front}")
        log(f"hardened: from {backend}: {from_back}")
        open_front = {k: v for k, v in from_front.items() if v == "open"}
        closed_back = {k: v for k, v in from_back.items() if v != "open"}
        assert not open_front, f"stores reachable from the frontend network: {open_front}"
        assert not closed_back, f"stores not reachable from the backend network: {closed_back}"
        for store in self.example.stores:
            on = sorted(hardened.require_container(store)["NetworkSettings"]["Networks"])
            assert on == [backend], f"{store} is on {on}, expected only {backend}"

    def test_no_store_port_on_all_interfaces(self, hardened: Stack):
        bad = {}
        for store in self.example.stores:
            bindings = hardened.published_bindings(store)
            log(f"hardened {store}: published {bindings}")
            if e2e_lib.exposed(bindings):
                bad[store] = bindings
        assert not bad, f"store ports published on all interfaces: {bad}"

    def test_startup_connectors_stay_up_60s(self, hardened: Stack):
        if not self.example.startup_connectors:
            pytest.skip("no service in this example connects once at start-up")
        first = {svc: hardened.require_container(svc) for svc in self.example.startup_connectors}
        assert hardened.up_started is not None
        remaining = hardened.up_started + 60 - time.monotonic()
        if remaining > 0:
            log(f"watching {list(first)} for another {remaining:.0f}s (60 s after `up`)")
            time.sleep(remaining)
        problems = []
        for svc, before in first.items():
            now = hardened.require_container(svc)
            st = now["State"]
            if not st["Running"] or now["RestartCount"] or st["StartedAt"] != before["State"]["StartedAt"]:
                problems.append(
                    f"{svc}: running={st['Running']} exit={st['ExitCode']} restarts={now['RestartCount']} "
                    f"started {before['State']['StartedAt']} -> {st['StartedAt']}\n"
                    f"{hardened.logs(svc)[-2000:]}"
                )
        assert not problems, "\n".join(problems)

    def test_dev_tools_only_with_dev_profile(self, hardened: Stack):
        if not self.example.dev_tools:
            pytest.skip("no dev tool in this example")
        running = [t for t in self.example.dev_tools
                   if (hardened.container(t) or {}).get("State", {}).get("Running")]
        assert not running, f"dev tools running after a plain `up`: {running}"
        hardened.up(*self.example.dev_tools, profiles=("dev",))
        for tool, port_var in self.example.dev_tools.items():
            info = hardened.container(tool)
            assert info is not None and info["State"]["Running"], f"{tool} not running with --profile dev"
            status, body = hardened.http_get(port_var, "/", timeout=60)
            assert status == 200, f"{tool} answered HTTP {status}"
