"""Rust: what harden knows about running cargo as the start command. A Dockerfile that builds
with cargo is not split (shell.FOREIGN).

Hooks (harden.stacks): START_BUILD (non-root-user).
"""

from __future__ import annotations

import re

# `cargo run` / `cargo watch` compile into target/ in the app folder at start-up
START_BUILD = re.compile(r"(?m)^[^#\n]*?(?:^|[\s\"'/\[,;&|])(cargo[\"',\s]+(?:run|watch)\b)")
