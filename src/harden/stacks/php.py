"""PHP: what harden knows about php-fpm and Apache images and Laravel, for running as non-root.

Hooks (harden.stacks): keeps_root, writes_at_start (non-root-user). A Dockerfile that runs
composer is not split (shell.FOREIGN).
"""

from __future__ import annotations

import re
from typing import Any

from harden.stacks import PHP_APPS


def keeps_root(ref: Any) -> str | None:
    """php-fpm and Apache start their master process as root on purpose and run the workers as
    www-data; so do the official PHP web app images built on them (wordpress, drupal, ...)."""
    raw, tag = ref.raw.strip(), (ref.tag or "latest").lower()
    if ref.name == "php" and ("fpm" in tag or "apache" in tag):
        return (f"base image {raw} runs php-fpm/Apache, whose master process starts as "
                "root on purpose and runs the workers as www-data; a USER here would break it")
    if ref.name in PHP_APPS and ref.namespace == "library":
        return (f"base image {raw} runs Apache or php-fpm, which start as root and drop "
                "to www-data themselves; a USER here would break it")
    return None


def writes_at_start(app: Any) -> tuple[str, tuple[str, ...]] | None:
    """Laravel writes storage/logs, storage/framework/{cache,sessions,views} and bootstrap/cache.
    The stage runs a Laravel app when its start command runs `php artisan`, or the build context
    has an artisan file and a composer.json that requires laravel/framework."""
    if any(v is not None and re.search(r"\bartisan\b", v) for v in (app.entrypoint, app.cmd)) \
            or _is_laravel(app):
        return "a Laravel app", ("storage", "bootstrap/cache")
    return None


def _is_laravel(app: Any) -> bool:
    try:
        return (app.context / "artisan").is_file() and \
            "laravel/framework" in (app.context / "composer.json").read_text(errors="replace")
    except OSError:
        return False
