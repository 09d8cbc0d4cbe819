"""networks: snapshot tests over the net-* fixtures, the inline examples, and a semantic check of
every output through the compose CLIs (who can reach whom, internal networks, ports: on the model
`docker compose config --format json` resolves; docker-compose 1.29 must accept it too where installed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from harden_testlib import (FIXTURES, assert_compose_valid, changed_text, compose_config, compose_model, copy_fixture,
                            harden_run, write_files)
from harden.compose_doc import ComposeDoc
from harden.config import Options
from harden.engine import Run, run
from harden.roles import classify_all
from harden.transforms.networks import Networks, loopback_port

NET_FIXTURES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name.startswith("net-"))
SNAP_FIXTURES = NET_FIXTURES + ["core-seed", "core-anchors"]




def _apply(path: Path, select: list[str]):
    res = harden_run(path, select=select)
    assert not res.errors, [e.one_line() for e in res.errors]
    for f in res.changed_files:
        f.path.write_text(f.after)
    return res


def _summary(res) -> str:
    lines = []
    for o in res.outcomes:
        if o.transform == "networks" and o.status in ("skipped", "failed"):
            lines.append(f"# {o.status} [{o.part}] {o.reason}")
    for n in res.notes:
        if n.transform == "networks":
            lines.append(f"# note {n.file}:{n.line}: {n.message}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ examples


@pytest.mark.parametrize("example", Networks.examples, ids=lambda e: e.name)
def test_inline_examples(example, tmp_path):
    write_files(tmp_path, example.files)
    res = harden_run(tmp_path, select=["networks"])
    assert not res.errors
    for f in res.files:
        want = example.expect.get(f.rel, example.files.get(f.rel))
        if want is not None:
            assert f.after == want, f.rel


def test_docstring_has_the_sections():
    doc = Networks.docs()
    for section in ("What it does:", "Why:", "Example:", "Safety:", "When it refuses:"):
        assert section in doc


# ----------------------------------------------------------------------- snapshots


@pytest.mark.parametrize("name", SNAP_FIXTURES)
def test_snapshot(name, tmp_path, snap_diff):
    from harden.report import unified_diff

    path = copy_fixture(name, tmp_path)
    res = harden_run(path, select=["networks"])
    assert not res.errors
    assert not [o for o in res.outcomes if o.status == "failed"], res.outcomes
    text = "".join(unified_diff(f.rel, f.before, f.after) for f in res.changed_files)
    assert text + _summary(res) == snap_diff


@pytest.mark.parametrize("name", SNAP_FIXTURES)
def test_idempotent(name, tmp_path):
    path = copy_fixture(name, tmp_path)
    _apply(path, ["networks"])
    again = harden_run(path, select=["networks"])
    assert not again.changed_files, [f.rel for f in again.changed_files]


# -------------------------------------------------- semantics through the compose CLIs


def _compose_files(path: Path) -> list[Path]:
    res = Run(path)
    res.load()
    assert len(res.projects) == 1
    return [Path(d.abspath) for d in res.projects[0].docs]


def _config(path: Path, what: str) -> dict:
    """Every compose CLI accepts the project; v2's resolved model of it, all profiles included."""
    files = _compose_files(path)
    assert_compose_valid(compose_config(path, files), f"{path.name} {what}")
    return compose_model(path, files, profiles=("*",))


def _nets(cfg: dict, name: str) -> set[str] | None:
    svc = cfg["services"][name]
    if "network_mode" in svc:
        return None
    return set(svc.get("networks") or {"default": None})


def _internal(cfg: dict, net: str) -> bool:
    conf = (cfg.get("networks") or {}).get(net) or {}
    return bool(conf.get("internal"))


@pytest.mark.parametrize("name", SNAP_FIXTURES)
def test_output_keeps_every_connection_and_isolates_stores(name, tmp_path):
    path = copy_fixture(name, tmp_path)
    loader = Run(path)
    loader.load()
    project = loader.projects[0]
    roles = classify_all(project)
    before = _config(path, "before harden")
    res = _apply(path, ["networks"])
    after = _config(path, "after harden")
    changed = any(o.transform == "networks" and o.status == "changed" for o in res.outcomes)
    net_refused = any(o.transform == "networks" and o.status == "skipped" and o.part == "networks"
                      for o in res.outcomes)
    for n, r in roles.items():
        a = after["services"][n]
        # no published port is dropped or added
        assert len(a.get("ports") or []) == len(before["services"][n].get("ports") or []), n
        nets = _nets(after, n)
        if nets is None:
            continue
        way_out = any(not _internal(after, x) for x in nets)
        if r.publishes:
            assert way_out, f"{n} publishes ports but is only on internal networks: compose drops them"
        if r.egress is not False and not r.store:
            assert way_out, f"{n} may call the internet but is only on internal networks"
        for t in r.talks_to:
            tn = _nets(after, t)
            if tn is not None:
                assert nets & tn, f"{n} talks to {t} but they share no network"
        refused = {o.part for o in res.outcomes if o.transform == "networks" and o.status == "skipped"}
        refused |= {n for n in roles if any(x.message.startswith(f"{n}:") and "left as written" in x.message
                                            for x in res.notes)}
        if r.store and r.publishes and n not in refused:
            for p in a["ports"]:
                ip = p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0]
                assert ip == "127.0.0.1", f"{n}: port {p} is not bound to 127.0.0.1"
    if changed and not net_refused:
        for s, rs in roles.items():
            if not rs.store or _nets(after, s) is None:
                continue
            for p, rp in roles.items():
                if rp.store or not rp.public or _nets(after, p) is None:
                    continue
                shared = _nets(after, s) & _nets(after, p)
                assert shared <= {"backend"}, f"store {s} shares {shared} with public {p}"
                if rp.role == "proxy" and s not in rp.talks_to:
                    assert not shared, f"store {s} is reachable from the proxy {p}"


# ----------------------------------------------------------------- specific cases


def _run_files(tmp_path, files, select=("networks",), **opts):
    write_files(tmp_path, files)
    o = Options()
    o.select = list(select)
    o.values.update(opts)
    return run(tmp_path, o)


def test_network_names_are_options(tmp_path):
    res = _run_files(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x/web\n    ports: ['80:80']\n"
                                                 "    depends_on: [db]\n  db:\n    image: postgres\n"},
                     frontend_network="public", backend_network="private")
    out = res.files[0].after
    assert "      - public\n      - private\n" in out
    assert "networks:\n  public:\n  private:\n    internal: true\n" in out


def test_unknown_egress_keeps_backend_open_and_says_so(tmp_path):
    res = _run_files(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x/web\n    ports: ['80:80']\n"
                                                 "  jobs:\n    image: x/jobs\n    environment:\n      DB: db:5432\n"
                                                 "  db:\n    image: postgres\n"})
    out = res.files[0].after
    assert "internal: true" not in out
    assert any("jobs may call the internet" in n.message for n in res.notes)


def test_egress_override_from_config(tmp_path):
    files = {"compose.yaml": "services:\n  web:\n    image: x/web\n    ports: ['80:80']\n"
                             "  jobs:\n    image: x/jobs\n    environment:\n      DB: db:5432\n"
                             "  db:\n    image: postgres\n"}
    write_files(tmp_path, files)
    o = Options()
    o.select = ["networks"]
    o.services = {"jobs": {"egress": False}}
    out = run(tmp_path, o).files[0].after
    assert "internal: true" in out
    assert "  jobs:\n    image: x/jobs\n    environment:\n      DB: db:5432\n    networks:\n      - backend\n" in out


def test_a_proxy_does_not_reach_the_database(tmp_path):
    path = copy_fixture("net-reverse-proxy", tmp_path)
    res = _apply(path, ["networks"])
    assert not res.errors
    cfg = YAML(typ="safe").load((path / "compose.yaml").read_text())
    assert cfg["services"]["proxy"]["networks"] == ["frontend"]
    assert cfg["services"]["app"]["networks"] == ["frontend", "backend"]
    assert cfg["services"]["db"]["networks"] == ["backend"]


def test_unreadable_upstreams_still_reach_the_app_via_depends_on(tmp_path):
    res = _run_files(tmp_path, {"compose.yaml": "services:\n  caddy:\n    image: caddy:2\n    ports: ['443:443']\n"
                                                 "    depends_on: [api]\n  api:\n    build: .\n"
                                                 "  db:\n    image: mongo:7\n", "Dockerfile": "FROM x\n"})
    cfg = YAML(typ="safe").load(res.files[0].after if res.files[0].rel == "compose.yaml" else res.files[1].after)
    assert set(cfg["services"]["caddy"]["networks"]) & set(cfg["services"]["api"]["networks"])
    assert "backend" not in cfg["services"]["caddy"]["networks"]


def test_store_on_external_network_is_refused(tmp_path):
    files = {"compose.yaml": "services:\n  web:\n    image: x/web\n    ports: ['80:80']\n    networks: [shared]\n"
                             "  db:\n    image: postgres\n    networks: [shared]\nnetworks:\n  shared:\n    external: true\n"}
    res = _run_files(tmp_path, files)
    assert not res.changed_files
    assert any(o.status == "skipped" and "external network shared" in (o.reason or "") for o in res.outcomes)


def test_networks_from_an_anchor_are_not_edited(tmp_path):
    files = {"compose.yaml": "x-net: &net\n  networks: [appnet]\nservices:\n  web:\n    <<: *net\n    image: x\n"
                             "    ports: ['80:80']\n  db:\n    <<: *net\n    image: postgres\nnetworks:\n  appnet:\n"}
    res = _run_files(tmp_path, files)
    assert not res.changed_files
    reasons = " ".join(o.reason or "" for o in res.outcomes if o.status == "skipped")
    assert "anchor" in reasons


def test_flow_style_service_is_left_alone(tmp_path):
    files = {"compose.yaml": "services:\n  web: {image: x, ports: ['80:80']}\n  db:\n    image: postgres\n"}
    res = _run_files(tmp_path, files)
    assert not res.changed_files  # web could not be attached: the db would still share default with it
    assert any(o.status == "skipped" and o.part == "networks" for o in res.outcomes)


def test_pragma_leaves_a_service_alone(tmp_path):
    files = {"compose.yaml": "services:\n  web:\n    image: x\n    ports: ['80:80']\n    depends_on: [db]\n"
                             "  # harden: ignore[networks]\n  cache:\n    image: redis\n  db:\n    image: postgres\n"}
    res = _run_files(tmp_path, files)
    # cache stays on default with web: networks refuse as a whole, nothing half-done
    assert not res.changed_files
    assert any(o.status == "suppressed" for o in res.outcomes)


def test_network_mode_service_shares_its_needs_with_the_namespace_owner(tmp_path):
    files = {"compose.yaml": "services:\n  vpn:\n    image: qmcgaw/gluetun\n    ports: ['8080:8080']\n"
                             "  torrent:\n    image: x/torrent\n    network_mode: service:vpn\n"
                             "    environment:\n      DB: postgres://db/x\n  db:\n    image: postgres\n"}
    res = _run_files(tmp_path, files)
    cfg = YAML(typ="safe").load(res.files[0].after)
    assert "backend" in cfg["services"]["vpn"]["networks"]
    assert "networks" not in cfg["services"]["torrent"]


@pytest.mark.parametrize("item,want", [
    ("3306:3306", "127.0.0.1:3306:3306"),
    ("3306", "127.0.0.1::3306"),
    (3306, "127.0.0.1::3306"),
    ("${DB_PORT:-3306}:3306", "127.0.0.1:${DB_PORT:-3306}:3306"),
    ("5432:5432/tcp", "127.0.0.1:5432:5432/tcp"),
    ("9000-9001:9000-9001", "127.0.0.1:9000-9001:9000-9001"),
    ("127.0.0.1:3306:3306", None),
    ("[::1]:3306:3306", None),
    ("0.0.0.0:3306:3306", None),
    ("${DB_PORTS}", None),
])
def test_loopback_port(item, want):
    assert loopback_port(item)[0] == want


# -------------------------------------------- ComposeDoc helper fixes this module relies on


def test_add_key_keeps_deeper_comment_lines_with_the_entry_above():
    doc = ComposeDoc("c.yaml", "services:\n  w:\n    depends_on:\n      - a\n      # - b   (later)\n  # next\n  x:\n    image: y\n")
    doc.add_key(doc.services()["w"], "networks", ["backend"])
    assert doc.render() == ("services:\n  w:\n    depends_on:\n      - a\n      # - b   (later)\n    networks:\n"
                            "      - backend\n  # next\n  x:\n    image: y\n")


def test_add_key_after_a_key_without_value():
    doc = ComposeDoc("c.yaml", "services:\n  w:\n    networks:\n      a:\n      b:\n    image: y\n")
    doc.add_key(doc.services()["w"]["networks"], "backend", None)
    assert doc.render() == "services:\n  w:\n    networks:\n      a:\n      b:\n      backend:\n    image: y\n"


def test_shared_anchor_text_makes_networks_skip_not_fail(tmp_path):
    # `db2: *db` and `networks: *nets`: the plan could only be written into the anchors' text
    (tmp_path / "compose.yaml").write_text(
        "x-nets: &nets\n"
        "  - default\n"
        "services:\n"
        "  db: &db\n"
        "    image: postgres:16\n"
        "  db2: *db\n"
        "  app:\n"
        "    image: example/app\n"
        "    ports: [\"8000:8000\"]\n"
        "    depends_on: [db, db2]\n"
        "    networks: *nets\n"
    )
    result = harden_run(tmp_path, select=["networks"])
    mine = [o for o in result.outcomes if o.transform == "networks"]
    assert not [o for o in mine if o.status == "failed"]
    assert any(o.status == "skipped" and "anchor" in (o.reason or "") for o in mine)
    assert not [f for f in result.files if f.changed]


SHARED_NET = (
    "services:\n"
    "  kong:\n"
    "    image: kong:3.6\n"
    "    ports:\n"
    "      - \"8000:8000\"\n"
    "    environment:\n"
    "      KONG_PG_HOST: kong-db\n"
    "    networks:\n"
    "      - kong-net\n"
    "  kong-db:\n"
    "    image: postgres:16\n"
    "    networks:\n"
    "      - kong-net   # shared with the gateway\n"
    "networks:\n"
    "  kong-net:\n"
)


def test_store_leaves_a_custom_network_it_shares_with_a_public_service(tmp_path):
    """Issue 16, item 6: kong-db was on kong-net with the public gateway; harden knows who talks
    to it (kong), so kong-db moves to backend, kong joins backend, and the note names the network
    kong-db left."""
    root = write_files(tmp_path / "p", {"compose.yaml": SHARED_NET})
    res = harden_run(root, select=["networks"])
    out = changed_text(res, "compose.yaml")
    data = yaml.safe_load(out)
    assert data["services"]["kong-db"]["networks"] == ["backend"]
    assert data["services"]["kong"]["networks"] == ["kong-net", "backend"]
    assert "backend" in data["networks"] and "kong-net" in data["networks"]
    # the entry kong-db left goes with its end-of-line comment (it was about that entry)
    assert "kong-net   # shared with the gateway" not in out
    assert any("left the network kong-net" in n.message for n in res.notes)
    assert_compose_valid(compose_config(root, [root / "compose.yaml"]))


def test_store_with_an_alias_on_the_shared_network_stays(tmp_path):
    text = SHARED_NET.replace("    networks:\n      - kong-net   # shared with the gateway\n",
                              "    networks:\n      kong-net:\n        aliases: [database]\n")
    root = write_files(tmp_path / "p", {"compose.yaml": text})
    res = harden_run(root, select=["networks"])
    assert not res.changed_files
    assert any(o.transform == "networks" and o.status == "skipped" and "has the alias database on kong-net" in o.reason
               and "drop the alias" in o.reason for o in res.outcomes)


# ------------------------------------------------ whom a public service talks to, or not

def test_a_proxy_known_by_its_start_command_stays_off_the_stores(tmp_path):
    """An app image that starts nginx (`command: [nginx-entrypoint.sh]`, frappe's frontend) is
    a reverse proxy: it reaches the services its configuration names, not the stores, which
    leave the network they shared with it."""
    text = ("services:\n"
            "  frontend:\n    image: acme/erp:16\n    command:\n      - nginx-entrypoint.sh\n"
            "    environment:\n      BACKEND: backend:8000\n    ports:\n      - \"8080:8080\"\n    networks:\n      - erp\n"
            "  backend:\n    image: acme/erp:16\n    environment:\n      DB_HOST: db\n    networks:\n      - erp\n"
            "  db:\n    image: mariadb:11\n    networks:\n      - erp\n"
            "networks:\n  erp:\n")
    root = write_files(tmp_path / "p", {"compose.yaml": text})
    data = yaml.safe_load(changed_text(harden_run(root, select=["networks"]), "compose.yaml"))
    assert data["services"]["db"]["networks"] == ["backend"]
    assert data["services"]["frontend"]["networks"] == ["erp"]
    assert data["services"]["backend"]["networks"] == ["erp", "backend"]
    assert_compose_valid(compose_config(root, [root / "compose.yaml"]))


def test_a_tracing_backend_is_not_taken_to_talk_to_the_stores(tmp_path):
    """Jaeger opens connections only where its configuration says (its span storage): it is
    not kept next to the database, as an image harden knows nothing about would be."""
    res = _run_files(tmp_path, {"compose.yaml": (
        "services:\n  api:\n    image: acme/api\n    ports: ['8000:8000']\n    depends_on: [db, jaeger]\n"
        "  jaeger:\n    image: jaegertracing/all-in-one:1.57\n    ports: ['16686:16686']\n"
        "  db:\n    image: postgres:16\n")})
    data = yaml.safe_load(res.files[0].after)
    assert data["services"]["jaeger"]["networks"] == ["frontend"]
    assert data["services"]["db"]["networks"] == ["backend"]


def test_a_tracing_backend_that_stores_spans_in_a_store_keeps_it(tmp_path):
    res = _run_files(tmp_path, {"compose.yaml": (
        "services:\n  jaeger:\n    image: jaegertracing/all-in-one\n    ports: ['16686:16686']\n"
        "    environment:\n      SPAN_STORAGE_TYPE: elasticsearch\n      ES_SERVER_URLS: http://es:9200\n"
        "  es:\n    image: elasticsearch:8.13.0\n")})
    data = yaml.safe_load(res.files[0].after)
    assert set(data["services"]["jaeger"]["networks"]) == {"frontend", "backend"}


_UNKNOWN_UI = ("services:\n  api:\n    image: acme/api\n    ports: ['8000:8000']\n    depends_on: [db]\n"
               "  dashboard:\n    image: acme/dashboard\n    ports: ['9000:80']\n"
               "  db:\n    image: postgres:16\n")


def test_a_store_kept_next_to_a_service_harden_cannot_see_into_says_why(tmp_path):
    """harden keeps a service whose traffic it cannot see next to the stores (it keeps
    working); the store is then not isolated from that public service, and the reason says
    how to tell harden whom it talks to."""
    res = _run_files(tmp_path, {"compose.yaml": _UNKNOWN_UI})
    data = yaml.safe_load(res.files[0].after)
    assert "backend" in data["services"]["dashboard"]["networks"]
    (o,) = [o for o in res.outcomes if o.transform == "networks" and o.status == "skipped"]
    assert o.part == "db" and "shares the network backend with dashboard" in o.reason
    assert "talks_to under [services.dashboard]" in o.reason


def test_talks_to_from_the_configuration_isolates_the_store(tmp_path):
    write_files(tmp_path, {"compose.yaml": _UNKNOWN_UI})
    res = run(tmp_path, Options(select=["networks"], services={"dashboard": {"talks_to": []}}))
    data = yaml.safe_load(res.files[0].after)
    assert data["services"]["dashboard"]["networks"] == ["frontend"]
    assert data["services"]["db"]["networks"] == ["backend"]
    assert not [o for o in res.outcomes if o.transform == "networks" and o.status == "skipped"]


def test_a_service_harden_cannot_see_into_is_only_taken_to_talk_to_stores_it_can_reach(tmp_path):
    """The storefront (an image harden cannot read, on `default` alone) shares no network with
    the database and the cache (both on shop-tier): whatever it talks to, it is not them. It is
    not moved next to them, and they leave shop-tier isolated."""
    path = copy_fixture("net-unknown-out-of-reach", tmp_path)
    res = harden_run(path, select=["networks"])
    data = yaml.safe_load(changed_text(res, "compose.yaml"))
    assert data["services"]["storefront"]["networks"] == ["frontend"]
    assert data["services"]["db"]["networks"] == ["backend"]
    assert data["services"]["cache"]["networks"] == ["backend"]
    assert data["services"]["worker"]["networks"] == ["shop-tier", "backend"]
    assert not [o for o in res.outcomes if o.transform == "networks" and o.status == "skipped"]
    notes = [n.message for n in res.notes if "left the network shop-tier" in n.message]
    assert notes and not any("storefront" in m for m in notes)


def test_a_file_run_with_this_one_that_puts_the_service_next_to_the_stores_counts(tmp_path):
    """compose.admin.yaml (run as `-f compose.yaml -f compose.admin.yaml`) puts the storefront on
    shop-tier: there it can reach the stores, so it is still taken to talk to them."""
    path = copy_fixture("net-unknown-out-of-reach", tmp_path)
    (path / "compose.admin.yaml").write_text("services:\n  storefront:\n    networks:\n      - shop-tier\n")
    res = harden_run(path, select=["networks"])
    data = yaml.safe_load(changed_text(res, "compose.yaml"))
    assert "backend" in data["services"]["storefront"]["networks"]
    assert any(o.transform == "networks" and o.part == "db" and "talks_to under [services.storefront]" in o.reason
               for o in res.outcomes)


def test_a_network_name_harden_cannot_resolve_keeps_the_service_next_to_the_stores(tmp_path):
    """`name: ${SHOP_NET}` may be the network the stores are on: reach is unclear, so the
    storefront is still taken to talk to the stores, as before."""
    path = copy_fixture("net-unknown-out-of-reach", tmp_path)
    text = (path / "compose.yaml").read_text()
    text = text.replace('      - "3000:80"   # the browser calls the API on :8000 itself\n',
                        '      - "3000:80"   # the browser calls the API on :8000 itself\n    networks:\n      - edge\n')
    text += "  edge:\n    name: ${SHOP_EDGE_NET:-shop_edge}\n"
    (path / "compose.yaml").write_text(text)
    res = harden_run(path, select=["networks"])
    data = yaml.safe_load(changed_text(res, "compose.yaml"))
    assert "backend" in data["services"]["storefront"]["networks"]


# ------------------------------------------- issue 16, item 5: networks written once in an anchor

ANCHORED_NETS = (
    "x-app: &app\n"
    "  image: acme/app\n"
    "  networks:\n"
    "    - appnet   # the app's own network\n"
    "\n"
    "services:\n"
    "  web:\n"
    "    <<: *app\n"
    "    command: web\n"
    "  worker:\n"
    "    <<: *app\n"
    "    command: worker\n"
    "  proxy:\n"
    "    image: nginx:1.27\n"
    "    ports: [\"80:80\"]\n"
    "    depends_on: [web]\n"
    "    networks: [appnet]\n"
    "  db:\n"
    "    image: postgres:16\n"
    "    networks: [appnet]\n"
    "\n"
    "networks:\n"
    "  appnet:\n"
)


def _nets_of(model: dict, name: str) -> set[str]:
    return set((model["services"][name].get("networks") or {"default": None}))


def test_networks_in_an_anchor_every_sharer_needs_are_edited_once(tmp_path):
    """web and worker read `networks` from one anchor; both need backend to keep reaching db
    once it leaves appnet (which it shares with the public proxy): backend is added once, in
    the anchor, with its comment kept."""
    root = write_files(tmp_path / "p", {"compose.yaml": ANCHORED_NETS})
    res = harden_run(root, select=["networks"])
    out = changed_text(res, "compose.yaml")
    assert out.startswith("x-app: &app\n  image: acme/app\n  networks:\n    - appnet   # the app's own network\n"
                          "    - backend\n\nservices:\n  web:\n    <<: *app\n    command: web\n  worker:\n")
    assert "  db:\n    image: postgres:16\n    networks: [backend]\n" in out
    assert any("networks backend added once, in the anchor they share" in n.message for n in res.notes)
    (root / "compose.yaml").write_text(out)
    assert_compose_valid(compose_config(root, [root / "compose.yaml"]))
    model = compose_model(root, [root / "compose.yaml"])
    assert _nets_of(model, "web") == _nets_of(model, "worker") == {"appnet", "backend"}
    assert _nets_of(model, "db") == {"backend"} and _nets_of(model, "proxy") == {"appnet"}
    assert not harden_run(root, select=["networks"]).changed_files


SERVICE_AS_ANCHOR = (
    "services:\n"
    "  app: &app\n"
    "    image: acme/app\n"
    "    environment:\n"
    "      DB_HOST: db\n"
    "  worker:\n"
    "    <<: *app\n"
    "    command: worker\n"
    "  proxy:\n"
    "    image: nginx:1.27\n"
    "    ports: [\"80:80\"]\n"
    "    depends_on: [app]\n"
    "  db:\n"
    "    image: postgres:16\n"
)


def test_a_service_other_services_merge_gets_networks_they_all_share(tmp_path):
    """`worker: <<: *app` where app is a service: a `networks` key added to app reaches worker
    too, so both are planned as one (each gets what either needs) and the key is written once."""
    root = write_files(tmp_path / "p", {"compose.yaml": SERVICE_AS_ANCHOR})
    res = harden_run(root, select=["networks"])
    out = changed_text(res, "compose.yaml")
    assert ("  app: &app\n    image: acme/app\n    environment:\n      DB_HOST: db\n    networks:\n"
            "      - frontend\n      - backend\n  worker:\n    <<: *app\n    command: worker\n  proxy:\n") in out
    (root / "compose.yaml").write_text(out)
    assert_compose_valid(compose_config(root, [root / "compose.yaml"]))
    model = compose_model(root, [root / "compose.yaml"])
    assert _nets_of(model, "app") == _nets_of(model, "worker") == {"frontend", "backend"}
    assert _nets_of(model, "db") == {"backend"} and _nets_of(model, "proxy") == {"frontend"}


def test_an_anchor_shared_by_a_store_and_an_app_is_left_with_the_reason(tmp_path):
    text = ("x-common: &common\n  restart: always\n  networks: [appnet]\nservices:\n"
            "  web:\n    <<: *common\n    image: acme/web\n    ports: ['80:80']\n"
            "  db:\n    <<: *common\n    image: postgres:16\nnetworks:\n  appnet:\n")
    res = _run_files(tmp_path, {"compose.yaml": text})
    assert not res.changed_files
    reasons = " ".join(o.reason or "" for o in res.outcomes if o.transform == "networks" and o.status == "skipped")
    assert "written once under an anchor it shares with" in reasons


def test_a_store_whose_networks_come_from_an_anchor_of_its_own_leaves_the_shared_network(tmp_path):
    text = ("x-db: &db\n  image: postgres:16\n  networks: [appnet]\nservices:\n  web:\n    image: acme/web\n"
            "    ports: [\"80:80\"]\n    environment:\n      DB_HOST: db\n    networks: [appnet]\n  db:\n    <<: *db\n"
            "networks:\n  appnet:\n")
    root = write_files(tmp_path / "p", {"compose.yaml": text})
    out = changed_text(harden_run(root, select=["networks"]), "compose.yaml")
    assert out.startswith("x-db: &db\n  image: postgres:16\n  networks: [backend]\nservices:\n")
    (root / "compose.yaml").write_text(out)
    model = compose_model(root, [root / "compose.yaml"])
    assert _nets_of(model, "db") == {"backend"} and _nets_of(model, "web") == {"appnet", "backend"}


# ------------------------------------- an overlay that publishes what its base file only names

SKELETON_BASE = """\
services:
  proxy:
    image: example/proxy:1
  app:
    image: example/app:1
  db:
    image: postgres:16
"""

PUBLISHING_OVERLAY = """\
services:
  proxy:
    ports:
      - "80:80"
    # the proxy sends everything to app
    environment:
      UPSTREAM: http://app:8000
  app:
    environment:
      DATABASE_URL: postgres://u:p@db:5432/app
  db:
    environment:
      POSTGRES_PASSWORD: example
"""

# whom the proxy talks to: its config is in its image, which harden does not read
TALKS = Options(select=["networks"], services={"proxy": {"talks_to": ["app"]}})


def test_an_overlay_gets_the_networks_its_base_file_does_not_write(tmp_path):
    """The base file only names the services (no ports, nothing to isolate on its own); the
    overlay publishes the proxy. The networks go into the overlay, which compose adds to the base
    file's services; the base file, edited as a project of its own, stays as it is."""
    root = write_files(tmp_path / "p", {"compose.yaml": SKELETON_BASE, "compose.prod.yaml": PUBLISHING_OVERLAY})
    res = run(root, TALKS)
    assert not res.errors
    for f in res.changed_files:
        f.path.write_text(f.after)
    assert (root / "compose.yaml").read_text() == SKELETON_BASE
    over = yaml.safe_load((root / "compose.prod.yaml").read_text())
    assert over["services"]["db"]["networks"] == ["backend"]
    assert over["services"]["proxy"]["networks"] == ["frontend"]
    assert set(over["networks"]) == {"frontend", "backend"}
    assert "# the proxy sends everything to app" in (root / "compose.prod.yaml").read_text()
    files = [root / "compose.yaml", root / "compose.prod.yaml"]
    assert_compose_valid(compose_config(root, files))
    model = compose_model(root, files)
    assert _nets_of(model, "db") == {"backend"}
    assert "backend" not in _nets_of(model, "proxy") and "backend" in _nets_of(model, "app")
    assert _nets_of(model, "proxy") & _nets_of(model, "app")  # the proxy still reaches app
    assert not any(o.transform == "networks" and o.status == "skipped" for o in res.outcomes), res.outcomes
    assert not run(root, TALKS).changed_files


def test_an_overlay_that_does_not_name_every_service_still_leaves_the_base_file(tmp_path):
    """A service the plan must move is not in the overlay: its networks could only be written in
    the base file, which this overlay may not change, so nothing changes and the reason says so."""
    overlay = PUBLISHING_OVERLAY.replace("  db:\n    environment:\n      POSTGRES_PASSWORD: example\n", "")
    root = write_files(tmp_path / "p", {"compose.yaml": SKELETON_BASE, "compose.prod.yaml": overlay})
    res = run(root, TALKS)
    assert not res.changed_files
    assert any(o.transform == "networks" and o.status == "skipped" and "it would change compose.yaml" in o.reason
               for o in res.outcomes), [(o.transform, o.status, o.reason) for o in res.outcomes]
