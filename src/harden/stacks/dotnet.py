""".NET: what harden knows about the mcr.microsoft.com/dotnet images for running as non-root,
and about ``dotnet run`` as the start command. A Dockerfile that builds with dotnet is not
split (shell.FOREIGN).

Hooks (harden.stacks): ships_user, nonroot_user_value, START_BUILD, low_ports (non-root-user).
"""

from __future__ import annotations

import re
from typing import Any

_REPOS = {"dotnet/aspnet", "dotnet/runtime", "dotnet/runtime-deps", "dotnet/sdk"}

# `dotnet run` / `dotnet watch` compile into bin/ and obj/ in the app folder at start-up
START_BUILD = re.compile(r"(?m)^[^#\n]*?(?:^|[\s\"'/\[,;&|])(dotnet[\"',\s]+(?:run|watch)\b)")


def ships_user(ref: Any, alpine: bool) -> Any:
    """.NET 8+ images ship the user ``app`` (UID 1654, ``$APP_UID``); the chiseled (distroless)
    ones already run as it and have no shell. 6.0/7.0 have no user of their own."""
    from harden.stacks.system import DEBIAN_TAG, BaseInfo

    if ref.path not in _REPOS:
        return None
    raw, tag = ref.raw.strip(), (ref.tag or "latest").lower()
    fam = "alpine" if alpine else "debian"
    m = re.match(r"(\d+)\.", tag)
    if m is None:
        return BaseInfo(raw, unknown=f"cannot tell the .NET version of base image {raw} (from 8.0 on the "
                                     "image ships the user app, UID 1654; before, it does not)")
    chiseled = "chiseled" in tag or "distroless" in tag
    if int(m.group(1)) >= 8:  # $APP_UID: user app, 1654; chiseled images already run as it
        return BaseInfo(raw, fam, shell=not chiseled, default_nonroot=chiseled, existing=(1654, 1654, "app"))
    if alpine or DEBIAN_TAG.search(tag) or re.fullmatch(r"\d+\.\d+(\.\d+)?", tag):
        return BaseInfo(raw, fam)  # 6.0/7.0: Debian by default, no user of its own
    return BaseInfo(raw, unknown=f"cannot tell how to add a user on base image {raw} (a .NET image on a "
                                 "distribution harden does not know)")


def nonroot_user_value(base: Any, value: str) -> bool:
    """``USER $APP_UID`` (``${APP_UID}:${APP_GID}``) on .NET 8+: APP_UID is the image's own ENV
    (1654), not a build variable."""
    return base.existing is not None and base.existing[2] == "app" and \
        bool(re.fullmatch(r"\$\{?APP_UID\}?(:\$\{?APP_GID\}?)?", value.strip()))


def low_ports(image: str, env: dict[str, str], found: list[str]) -> list[str]:
    """.NET 6/7 images listen on ASPNETCORE_URLS=http://+:80 unless the Dockerfile moves it."""
    m = re.match(r"mcr\.microsoft\.com/dotnet/(?:aspnet|sdk):(\d+)\.", image or "")
    if m and int(m.group(1)) < 8 and "80" not in [o.split("/")[0] for o in found] \
            and not any(k in ("ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "HTTP_PORTS") for k in env):
        return [f"the base image {image} listens on port 80 (its ASPNETCORE_URLS)"]
    return []
