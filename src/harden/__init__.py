"""harden: rewrite a Dockerfile and compose file to production standards, in a minimal diff."""

__version__ = "0.1.0"
