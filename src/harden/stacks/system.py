"""The OS under every stack: how a base image creates users, entrypoints that switch user,
Debian releases, image references.

``classify_base(image)`` says what a base image offers for a non-root user: its family
(Debian/Ubuntu, Alpine/BusyBox, RHEL and friends, distroless, Chainguard, scratch), a user it
ships, or why it must stay root or cannot get a user; ``create_user_cmds`` creates the group
and user the family's way. Language images are their stack modules' knowledge (``keeps_root``,
``ships_user``).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from harden.record import record

@record
class BaseInfo:
    """What a base image means for creating a user."""

    image: str
    family: str | None = None  # debian | alpine | rhel | distroless | chainguard | scratch
    shell: bool = True  # RUN works (a /bin/sh is there)
    default_nonroot: bool = False  # the image's own USER is not root
    existing: tuple[int, int, str] | None = None  # a non-root user the image ships
    leave: str | None = None  # the image must keep starting as root
    unknown: str | None = None  # why no user can be created here
    stack: str | None = None  # the language stack whose image it is, when that stack said so
    workdir: str | None = None  # the work directory the image sets (an ONBUILD image copies the app there)

    @property
    def creates(self) -> bool:
        return self.existing is None and self.family in ("debian", "rhel", "alpine")


# official images (library/...) whose default variants are Debian or Ubuntu
_DEBIAN_NAMES = {
    "python", "node", "debian", "ubuntu", "golang", "rust", "ruby", "perl", "php", "openjdk", "java",
    "eclipse-temurin", "buildpack-deps", "pypy", "r-base", "julia", "erlang", "elixir", "haskell",
    "swift", "gcc", "clojure", "dart", "ros", "neurodebian", "maven", "gradle", "sapmachine",
}


_DEBIAN_NAMESPACED = {"continuumio/miniconda3", "continuumio/anaconda3", "condaforge/miniforge3",
                      "condaforge/mambaforge", "rocker/r-ver", "rocker/tidyverse", "rocker/rstudio",
                      "ghcr.io/astral-sh/uv", "astral-sh/uv"}


_RHEL_NAMES = {"fedora", "centos", "rockylinux", "almalinux", "oraclelinux", "ubi", "ubi8", "ubi9",
               "ubi10", "ubi-init", "centos-stream", "stream8", "stream9"}


_ALPINE_NAMES = {"alpine", "busybox"}


# tag words that name a Debian/Ubuntu release
DEBIAN_TAG = re.compile(r"(^|[-_.])(trixie|bookworm|bullseye|buster|stretch|jessie|sid|noble|jammy|"
                         r"focal|bionic|xenial|oracular|plucky)([-_.]|$)")


_WINDOWS_TAG = re.compile(r"windowsservercore|nanoserver|ltsc\d{4}|windows")


_LEAVE_ROLES = {
    "database": "a database server image whose entrypoint starts as root to prepare the data directory "
                "and then drops to its own user",
    "cache": "a server image that starts as root and drops to its own user itself",
    "queue": "a server image that starts as root and drops to its own user itself",
    "search": "a server image that runs as its own user or drops privileges itself",
    "store": "a server image that manages its own user",
    "proxy": "a server image that starts as root to bind ports 80/443 and runs its workers as an "
             "unprivileged user itself",
    "devtool": "a third-party tool image that manages its own user",
}


def classify_base(image: str) -> BaseInfo:
    """What the base image ``image`` (variables already resolved) offers for running as a
    non-root user. The language stacks answer for their own images (harden.stacks.of_image):
    the ones that must start as root (``keeps_root``) and the ones that ship a user
    (``ships_user``)."""
    from harden.catalog import image_kind, parse_image, role_of_kind
    from harden.stacks import hook, of_image

    raw = image.strip()
    if raw.lower() == "scratch":
        return BaseInfo(raw, "scratch", shell=False)
    ref = parse_image(raw)
    if ref is None:
        return BaseInfo(raw, unknown="no base image")
    tag = (ref.tag or "latest").lower()
    name, path, reg = ref.name, ref.path, (ref.registry or "").lower()
    if name in ("nginx-unprivileged", "unprivileged-nginx") or path == "bitnami/nginx":
        return BaseInfo(raw, "alpine" if "alpine" in tag else "debian", default_nonroot=True)  # runs as 101 / 1001
    kind = image_kind(ref)
    if kind is not None:
        role = role_of_kind(kind)
        why = _LEAVE_ROLES.get(role or "", "a server image that manages its own user")
        return BaseInfo(raw, leave=f"base image {raw} ({kind}) is {why}; a USER here would break it")
    stack = of_image(ref)
    keeps_root = hook(stack, "keeps_root")
    why = keeps_root(ref) if keeps_root is not None else None
    if why:
        return BaseInfo(raw, leave=why)
    if _WINDOWS_TAG.search(tag) or "windows" in path:
        return BaseInfo(raw, unknown=f"base image {raw} is a Windows image")
    onbuild = hook(stack, "onbuild") if "onbuild" in tag else None
    built = onbuild(ref, "alpine" in tag) if onbuild is not None else None
    if built is not None:
        built.stack = stack
        return built
    own = _manages_its_user(reg, path, tag, raw)
    if own is not None:
        return own
    # images that ship a non-root user
    if reg == "gcr.io" and path.startswith("distroless/"):
        return BaseInfo(raw, "distroless", shell=False, default_nonroot="nonroot" in tag,
                        existing=(65532, 65532, "nonroot"))
    if reg == "cgr.dev" or (ref.namespace or "").startswith("chainguard"):
        if name == "wolfi-base":  # root by default, BusyBox adduser
            return BaseInfo(raw, "alpine")
        return BaseInfo(raw, "chainguard", shell="dev" in tag, default_nonroot=True,
                        existing=(65532, 65532, "nonroot"))
    alpine = "alpine" in tag or name in _ALPINE_NAMES
    ships_user = hook(stack, "ships_user")
    shipped = ships_user(ref, alpine) if ships_user is not None else None
    if shipped is not None:
        shipped.stack = stack
        return shipped
    shipped = _shipped_user(reg, path, tag, raw, alpine)
    if shipped is not None:
        return shipped
    if alpine:
        return BaseInfo(raw, "alpine")
    rhel_tag = re.search(r"(^|[-_.])(ubi\d*(-minimal|-micro)?|oraclelinux\d*(-slim)?|oracle|amazonlinux\d*|"
                         r"corretto|al2\d*|fedora|centos|rockylinux\d*|almalinux\d*)([-_.]|$)", tag)
    if name in _RHEL_NAMES or rhel_tag or name in ("amazonlinux", "ubi-minimal", "ubi-micro") \
            or name.startswith(("ubi8-", "ubi9-", "ubi10-")):
        minimal = re.search(r"minimal|micro|slim|oracle$|oraclelinux", tag) or re.search(r"minimal|micro", name)
        if name == "amazonlinux" or (rhel_tag and re.search(r"amazon|corretto|al2", rhel_tag.group(0))):
            return BaseInfo(raw, unknown=f"base image {raw} (Amazon Linux) has no useradd (shadow-utils is "
                                         "not installed); install shadow-utils and add the user yourself")
        if minimal:
            return BaseInfo(raw, unknown=f"base image {raw} is a minimal RPM image without useradd "
                                         "(shadow-utils); install it and add the user yourself")
        return BaseInfo(raw, "rhel")
    full = ref.path if ref.registry is None else f"{reg}/{path}"
    if (name in _DEBIAN_NAMES and ref.namespace == "library") or full in _DEBIAN_NAMESPACED \
            or path in _DEBIAN_NAMESPACED or DEBIAN_TAG.search(tag):
        return BaseInfo(raw, "debian")
    if "onbuild" in tag:
        return BaseInfo(raw, unknown=f"base image {raw} is an ONBUILD image: its triggers copy the app and install "
                                     "its dependencies into a folder this Dockerfile does not name, so harden can "
                                     "tell neither how to add a user nor what the app must be able to write; add "
                                     "the user yourself (or start from the image's non-onbuild variant)")
    return BaseInfo(raw, unknown=f"cannot tell how to add a user on base image {raw} (not a known "
                                 "Debian/Ubuntu, Alpine, RHEL-family, distroless, Chainguard or node image)")


# Elastic stack images that run as their own non-root user (uid 1000) by default, by repository
# (docker.elastic.co/<path>, or elastic/<name> and the official library/<name> on Docker Hub)
_ELASTIC_USERS = {"kibana/kibana": "kibana", "logstash/logstash": "logstash", "beats/filebeat": "filebeat",
                  "beats/metricbeat": "metricbeat", "beats/heartbeat": "heartbeat",
                  "elastic-agent/elastic-agent": "elastic-agent", "kibana": "kibana", "logstash": "logstash",
                  "filebeat": "filebeat", "metricbeat": "metricbeat", "heartbeat": "heartbeat",
                  "elastic-agent": "elastic-agent", "library/kibana": "kibana", "library/logstash": "logstash"}


def _manages_its_user(reg: str, path: str, tag: str, raw: str) -> BaseInfo | None:
    """Images that choose their user themselves, at start-up or outside the Dockerfile."""
    if reg in ("", "docker.io", "index.docker.io") and path == "umputun/baseimage" and tag.startswith("app"):
        return BaseInfo(raw, leave=f"base image {raw} starts as root on purpose: its /init.sh sets the time zone "
                                   "and the app user's UID (APP_UID), then runs the command as user app with "
                                   "su-exec; a USER here would break it")
    if reg == "mcr.microsoft.com" and (path.startswith("devcontainers/") or path.startswith("vscode/devcontainers/")):
        return BaseInfo(raw, leave=f"base image {raw} is a dev container image: VS Code and the devcontainer CLI "
                                   "choose the user it runs as (remoteUser/containerUser in devcontainer.json, "
                                   "and the image's own metadata), so the Dockerfile is left as it is")
    return None


def _shipped_user(reg: str, path: str, tag: str, raw: str, alpine: bool) -> BaseInfo | None:
    """Images of no language stack that ship a non-root user of their own (CircleCI, Elastic,
    Red Hat's language images); the stacks' own images are their modules' ``ships_user``."""
    if reg in ("", "docker.io", "index.docker.io") and path.startswith("cimg/"):
        # CircleCI's convenience images (Ubuntu) end with USER circleci (3434)
        return BaseInfo(raw, "debian", default_nonroot=True, existing=(3434, 3434, "circleci"))
    elastic = _ELASTIC_USERS.get(path if reg == "docker.elastic.co" else path.replace("elastic/", "", 1)
                                 if reg in ("", "docker.io", "index.docker.io") else "")
    if elastic is not None:
        # Elastic's images end with USER <its name> (1000); the ones listed are not root by default
        return BaseInfo(raw, default_nonroot=True, existing=(1000, 1000, elastic))
    m = re.match(r"ubi\d+/(python|nodejs|php|ruby|perl|openjdk|go-toolset|dotnet)-", path)
    if m and reg in ("registry.access.redhat.com", "registry.redhat.io"):
        # Red Hat's language images end with USER 1001 (openjdk: 185): already non-root by default
        if m.group(1) in ("openjdk", "dotnet"):  # ubi-minimal underneath: no useradd for a USER root stage
            return BaseInfo(raw, default_nonroot=True,
                            unknown=f"base image {raw} is built on ubi-minimal (no useradd) and the stage switched "
                                    "to root; switch back to the image's own user yourself")
        return BaseInfo(raw, "rhel", default_nonroot=True)
    return None


def create_user_cmds(family: str | None, uid: int, gid: int, user: str, group: str) -> list[str]:
    """The commands that create the group and user, the base family's way."""
    if family == "alpine":
        return [f"addgroup -S -g {gid} {group}", f"adduser -S -D -u {uid} -G {group} {user}"]
    return [f"groupadd --system --gid {gid} {group}",
            f"useradd --system --no-log-init --uid {uid} --gid {group} --create-home --home-dir /home/{user} {user}"]


# tools that switch user: an image that installs them starts as root on purpose
PRIV_TOOL = re.compile(r"(?<![\w/.-])(gosu|su-exec)(?![\w.-])")


# what an entrypoint script does when it switches user or creates one at start-up
PRIV_SWITCH = re.compile(r"(?m)^[^#\n]*?(?<![\w/.-])((?:\S*/)?(?:gosu|su-exec|setpriv|runuser|s6-setuidgid|chpst\s+-u|"
                          r"useradd|adduser|usermod|groupadd|addgroup)(?![\w.-])|(?<![\w/.-])su\s[^\n]*?\s(?:-c|--command)(?![\w-]))")


# ---------------------------------------------------------------------------- image references

def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``reg/name:tag@digest`` -> (repository, tag, digest), textually."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:], digest
    return image, None, digest


DEBIAN_RELEASES = ("bookworm", "bullseye", "buster", "trixie", "stretch")


def release_of(tag: str) -> str | None:
    """The Debian release a tag names (``3.12-slim-bookworm`` -> bookworm), if any."""
    for r in DEBIAN_RELEASES:
        if r in tag:
            return r
    return None


# ---------------------------------------------------------------------------- users

def home_of(commands: list[list[str]], user: str) -> str | None:
    """The home folder of ``user`` (a name or UID) as the RUN command that creates it sets it
    (``commands``: the words of each command of the stage's RUNs): useradd ``-d``/``--home-dir``
    (else /home/<name>), Debian's adduser ``--home`` (else /home/<name>; a ``--system`` user has
    none), BusyBox adduser ``-h`` (else /home/<name>)."""
    from harden.stacks.shell import base, positional, strip_prefix

    for words in commands:
        w = strip_prefix(words)
        if not w or base(w[0]) not in ("useradd", "adduser"):
            continue
        pos, opts = positional(w[1:], {"-d", "--home-dir", "--home", "-h", "-u", "--uid", "-g", "--gid",
                                       "-G", "--groups", "--ingroup", "-s", "--shell", "-c", "--comment",
                                       "--gecos", "-b", "--base-dir", "-k", "--skel", "-K", "-e", "-f"})
        name = pos[-1] if pos else ""
        uids = opts.get("-u", []) + opts.get("--uid", [])
        if user not in (name, *uids) or not name:
            continue
        home = (opts.get("-d") or opts.get("--home-dir") or opts.get("--home") or opts.get("-h") or [None])[-1]
        if home:
            return home if home.startswith("/") else None
        if base(w[0]) == "adduser" and "--system" in opts:
            return None
        root = (opts.get("-b") or opts.get("--base-dir") or ["/home"])[-1]
        return posixpath.join(root, name)
    return None


@record
class App:
    """What a running stage shows of the app, for the stacks' ``writes_at_start``."""

    context: Path  # the build context
    workdir: str  # the work directory the app runs in (never "/": no folder of its own)
    entrypoint: str | None  # the value of the ENTRYPOINT in force, as written
    cmd: str | None  # the value of the CMD in force
    commands: list[str]  # the `command:` of each compose service that runs the stage

    def read(self, name: str, limit: int | None = None) -> str | None:
        """A file at the top of the build context, or None when it cannot be read."""
        try:
            text = (self.context / name).read_text(errors="replace")
        except OSError:
            return None
        return text[:limit] if limit is not None else text
