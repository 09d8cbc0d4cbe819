"""Go: what harden knows about go build/install, the binaries they write, cgo, and the
production base that runs them (distroless, alpine, debian-slim) with what the program needs
at run time (CA certificates, time zones, the files it reads).

Hooks (harden.stacks): classify, IMAGE, LABEL, KEEPS_USERS, plan_split (split-stages); onbuild
(non-root-user).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import PurePosixPath
from typing import Any

from harden.errors import Skip
from harden.stacks.shell import Cmd, base, positional, strip_prefix
from harden.stacks.system import release_of

IMAGE = "golang"
LABEL = "Go"
# production starts from another image (distroless, alpine, debian): the builder's users are not there
KEEPS_USERS = False

# modules that need cgo (they link a C library)
CGO_MODULES = ("github.com/mattn/go-sqlite3", "github.com/confluentinc/confluent-kafka-go",
               "github.com/h2non/bimg", "github.com/davidbyttow/govips", "gopkg.in/gographics/imagick",
               "github.com/go-gl/", "github.com/tecbot/gorocksdb", "github.com/linxGnu/grocksdb")
READS_FILES = re.compile(r"\b(os\.(ReadFile|Open|OpenFile|ReadDir)|ioutil\.ReadFile|ParseFiles|ParseGlob|"
                            r"http\.Dir|LoadHTMLGlob|LoadHTMLFiles|\.Static\(|godotenv\.Load)\b")


# ---------------------------------------------------------------------------- reading a RUN

def classify(words: list[str], prefix: list[str]) -> Cmd:
    """go mod (the install), go build/install (the build), other go commands (tools)."""
    args = words[1:]
    sub = args[0] if args else ""
    if sub == "mod":
        return Cmd("install", "go", words)
    if sub in ("build", "install"):
        return Cmd("build", "go", words, detail=sub)
    return Cmd("tool", "go", words)


# ---------------------------------------------------------------------------- splitting

def plan_split(plan: Any) -> tuple[list[str], list[str], str]:
    """Build the binaries in the builder; production is the smallest base that runs them."""
    items, cut = plan.items, plan.cut
    for i in items:
        c = next((c for c in i.cmds if c.kind == "file"), None) if i.cls == "build" else None
        if c is not None:
            raise Skip(f"RUN at line {i.line} mixes the Go build with `{' '.join(c.words[:3])}`; split that RUN "
                       "by hand first")
    env_text = " ".join(i.inst.value for i in items if i.inst.instruction in ("ENV", "ARG"))
    # the RUN text as written: `CGO_ENABLED=1 go build` sets it in a prefix the commands drop
    run_text = " ".join(i.inst.value for i in items if i.cls == "build")
    sources = _sources(plan, )
    gomod = plan.read("go.mod")
    cgo_set = re.search(r"\bCGO_ENABLED=(\d)", env_text + " " + run_text)
    if cgo_set:
        cgo = cgo_set.group(1) == "1"
    else:
        cgo = bool(re.search(r'(?m)^import\s+"C"|^\s*"C"\s*$', sources)) or any(m in gomod for m in CGO_MODULES)
    binaries = _binaries(plan, gomod)
    needs_certs = bool(re.search(r'"(net/http|crypto/tls|net/smtp)"|https://', sources)) or bool(
        re.search(r"(?m)^require\b", gomod))
    needs_tz = "LoadLocation" in sources and '"time/tzdata"' not in sources
    reads_files = bool(READS_FILES.search(sources))
    prod_items = [i for k, i in enumerate(items) if k > cut or i.cls in ("prod", "other", "copy_from")]
    shell = any(i.inst.instruction == "RUN" for i in prod_items) or any(
        i.inst.instruction in ("CMD", "ENTRYPOINT") and i.inst.exec_form() is None for i in prod_items) or any(
        i.inst.instruction == "HEALTHCHECK" and "NONE" not in i.inst.value.split()[:1] for i in prod_items) or bool(
        plan.compose_healthchecks(shell_only=True))
    via_shell, script = _start_command(prod_items, binaries)
    if via_shell or script:
        shell = True  # CMD ["sh", "-c", ...] or a start script: distroless has no shell
    if script:
        reads_files = True  # the script comes from the build context: production copies the app files
    from harden import runtime_libs as rl

    pkg_items = [i for k, i in enumerate(items) if i.cls == "pkg" and k <= cut]
    runtime, _ = plan.runtime_for(pkg_items + [i for i in items if i.cls == "build"], None)
    runtime = [p for p in runtime if rl.strip_version(p) not in ("ca-certificates", "tzdata")]
    tools = plan.tools_in_prod(prod_items) & {"curl", "wget"}
    release = release_of(plan.rtag)
    if plan.alpine:
        m = re.search(r"alpine(3\.\d+)", plan.rtag)
        prod_image = f"alpine:{m.group(1) if m else '3.20'}"
        fam = "apk"
        extra = (["ca-certificates"] if needs_certs else []) + (["tzdata"] if needs_tz else []) + sorted(tools - {"wget"})
        why = "Alpine, like the builder" if m else (
            f"Alpine, like the builder; the release is a guess, as {plan.base} names none: use the "
            "Alpine release of your builder image")
    elif not cgo and not shell and not runtime and not tools:
        prod_image = "gcr.io/distroless/static-debian12:nonroot"
        fam, extra = None, []
        why = "a static binary needs no shell or libraries; distroless carries CA certificates and tzdata"
    else:
        if cgo and release is None:
            raise Skip(f"the Go build uses cgo and {plan.base} names no Debian release; harden cannot pick a "
                       "production base with the same C library")
        prod_image = f"debian:{release or 'bookworm'}-slim"
        fam = "apt"
        extra = (["ca-certificates"] if needs_certs else []) + (["tzdata"] if needs_tz else []) + sorted(tools)
        why = "cgo links the C library" if cgo else "production needs a shell or packages"
    runtime = list(dict.fromkeys(runtime + extra))
    builder: list[str] = []
    production: list[str] = []
    cgo_line = None if cgo_set or cgo else "ENV CGO_ENABLED=0"
    rt_done = False
    first_go_build = next(k for k, i in enumerate(items) if i.cls == "build" and any(c.detail in ("build", "install") for c in i.cmds))
    for k, i in enumerate(items):
        if k > cut:
            production += i.out()
            continue
        if i.cls == "both":
            builder += i.out()
            production += i.out()
        elif i.cls == "prod":
            production += i.out()
        elif i.cls == "copy":
            builder += i.out()
            if reads_files and not i.manifest:
                production += i.out()
        elif i.cls in ("copy_from", "other"):
            builder += i.out()
            production += i.out()
        elif i.cls == "pkg":
            builder += i.out()
            if runtime and not rt_done:  # packages first, where the author installed them
                plan.gen(production, plan.pkg_run(runtime, fam))
                rt_done = True
        elif i.cls == "build":
            if k == first_go_build and cgo_line:
                builder.append(cgo_line)
            builder += i.out()
        if k == cut:
            block = plan.pkg_run(runtime, fam) if runtime and not rt_done else []
            block += [f"COPY --from={plan.builder_alias} {b} {b}" for b in binaries]
            block += _path_env(plan, binaries, prod_items)
            plan.gen(production, block)
    names = ", ".join(binaries)
    msg = f"production runs {names} on {prod_image} ({why})"
    if not reads_files:
        msg += "; it holds only the binary: if the program reads files at run time (templates, " \
               "migrations, config), COPY them into the production stage"
    plan.notes.append((plan.stage.startline + 1, msg))
    return builder, production, prod_image


def _start_command(prod_items: list, binaries: list[str]) -> tuple[bool, str | None]:
    """(runs a shell, start script) of the exec-form ENTRYPOINT/CMD: ``["sh", "-c", "..."]``
    needs a shell in production, ``["./entrypoint.sh"]`` a shell and the script, which comes
    from the build context, not from the builder's binaries."""
    entry = [i for i in prod_items if i.inst.instruction == "ENTRYPOINT"]
    start = entry[-1] if entry else next((i for i in reversed(prod_items) if i.inst.instruction == "CMD"), None)
    arr = start.inst.exec_form() if start is not None else None
    if not arr:
        return False, None
    first = arr[0]
    if base(first) in ("sh", "bash", "ash", "dash", "zsh", "env"):
        return True, None
    path = first if first.startswith("/") else posixpath.normpath(posixpath.join(start.workdir, first)) \
        if "/" in first and "$" not in start.workdir else None
    if path in binaries or base(first) in {base(b) for b in binaries}:
        return False, None
    if first.endswith(".sh") or path is not None:
        return False, first
    return False, None


def _path_env(plan, binaries: list[str], prod_items: list) -> list[str]:
    """``go install`` puts the binary in /go/bin, which only the golang image has on PATH: a
    CMD that calls it by name (``CMD ["app"]``) would find nothing in the production image.
    Put the binary's folder on PATH there, as the builder had it."""
    default = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}
    on_path: set[str] = set()
    for i in plan.items:
        if i.inst.instruction == "ENV":
            for m in re.finditer(r"(?:^|\s)PATH[= ]\"?([^\s\"]+)", i.inst.value):
                on_path.update(m.group(1).split(":"))
    called: set[str] = set()
    for i in prod_items:
        if i.inst.instruction in ("CMD", "ENTRYPOINT", "HEALTHCHECK", "RUN"):
            # names without a folder: a PATH lookup (``./app`` or ``/go/bin/app`` are not)
            called.update(w for w in re.findall(r"[^\s\"',;&|\[\]()]+", i.inst.value) if "/" not in w)
    dirs: list[str] = []
    for b in binaries:
        d = str(PurePosixPath(b).parent)
        if PurePosixPath(b).name in called and d not in default | on_path and d not in dirs:
            dirs.append(d)
    return [f'ENV PATH="{":".join(dirs)}:$PATH"'] if dirs else []


def _sources(plan) -> str:
    out = []
    total = 0
    for p in sorted(plan.context.rglob("*.go")):
        if any(part in ("vendor", "node_modules", ".git", "testdata") for part in p.parts) or p.name.endswith("_test.go"):
            continue
        try:
            t = p.read_text(errors="replace")
        except OSError:
            continue
        out.append(t)
        total += len(t)
        if total > 5_000_000:
            break
    return "\n".join(out)


def _binaries(plan, gomod: str) -> list[str]:
    out: list[str] = []
    for i in plan.items:
        if i.cls != "build":
            continue
        cwd: str | None = i.workdir  # `cd` inside the RUN moves it; None: cannot tell
        for c in i.cmds:
            w = strip_prefix(c.words)
            if w and base(w[0]) == "cd":
                to = w[1] if len(w) > 1 else ""
                if not to or to == "-" or "$" in to or to.startswith("~") or cwd is None or "$" in cwd:
                    cwd = None
                else:
                    cwd = posixpath.normpath(to if to.startswith("/") else posixpath.join(cwd, to))
                continue
            if c.detail not in ("build", "install"):
                continue
            if cwd is None:
                raise Skip(f"`cd` to a folder harden cannot resolve before `go {c.detail}` at line {i.line}: "
                           "it cannot tell where the binary is")
            if cwd != i.workdir and not _names_binary(w[2:], c.detail):
                raise Skip(f"`cd` before `go {c.detail}` at line {i.line}: the binary is named after the go.mod "
                           "of that folder, which harden does not map back to the build context")
            args = w[2:]
            pos, opts = positional(args, {"-o", "-ldflags", "-tags", "-gcflags", "-asmflags", "-mod", "-p",
                                           "-buildmode", "-trimpath", "-pkgdir", "-modfile", "-overlay"})
            pkgs = [p for p in pos if not p.endswith(".go")] or ["."]
            if c.detail == "install":
                name = _pkg_name(plan, pkgs[0].split("@")[0], gomod)
                gobin = re.search(r"\bGOBIN[= ]\"?([^\s\"]+)", " ".join(x.inst.value for x in plan.items if x.inst.instruction == "ENV"))
                out.append(f"{gobin.group(1) if gobin else '/go/bin'}/{name}")
                continue
            o = (opts.get("-o") or [None])[-1]
            files = [p for p in pos if p.endswith(".go")]
            if o is None and files:
                # `go build main.go util.go` writes ./main: named after the first file, in the
                # current folder (not the package's name, not the file's folder)
                o = PurePosixPath(files[0]).name[:-3]
            if o is None:
                if len(pkgs) != 1:
                    raise Skip(f"`go build` at line {i.line} builds several packages and names no output")
                o = _pkg_name(plan, pkgs[0], gomod)
            if o.endswith("/") or "$" in o:
                raise Skip(f"`go build -o {o}` at line {i.line}: harden cannot tell the binary's path")
            if not o.startswith("/"):
                if "$" in i.workdir:
                    raise Skip(f"WORKDIR {i.workdir} is a variable; harden cannot tell where the binary is")
                o = posixpath.normpath(posixpath.join(cwd or i.workdir, o))
            out.append(o)
    if not out:
        raise Skip("no `go build`/`go install` step: harden cannot tell which binary production runs")
    return list(dict.fromkeys(out))


def _names_binary(args: list[str], detail: str) -> bool:
    """Whether the binary's name follows from the command alone (``-o``, source files, or a
    package path), not from the current folder's go.mod."""
    pos, opts = positional(args, {"-o", "-ldflags", "-tags", "-gcflags", "-asmflags", "-mod", "-p",
                                   "-buildmode", "-trimpath", "-pkgdir", "-modfile", "-overlay"})
    if detail == "build" and ("-o" in opts or any(p.endswith(".go") for p in pos)):
        return True
    pkgs = [p for p in pos if not p.endswith(".go")] or ["."]
    return pkgs[0].split("@")[0] not in (".", "./")


def _pkg_name(plan, pkg: str, gomod: str) -> str:
    if pkg in (".", "./"):
        m = re.search(r"(?m)^module\s+(\S+)", gomod)
        if not m:
            raise Skip("`go build`/`go install` of the current folder without go.mod in the build context "
                       "(GOPATH mode): harden cannot tell the binary's name")
        pkg = m.group(1)
    parts = [p for p in pkg.strip("./").split("/") if p and p != "..."]
    if not parts:
        raise Skip(f"cannot tell the binary name of `{pkg}`")
    if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1:
        parts.pop()
    return parts[-1]


# ---------------------------------------------------------------------------- running as non-root

def onbuild(ref: Any, alpine: bool) -> Any:
    """The official ``golang:*-onbuild`` images (Debian) set WORKDIR /go/src/app; their triggers
    copy the app there and build it with go-wrapper, before the Dockerfile's own steps."""
    from harden.stacks.system import BaseInfo

    return BaseInfo(ref.raw.strip(), "alpine" if alpine else "debian", workdir="/go/src/app")
