"""Connection settings shared by the web app and the bot (from the environment)."""

import os

import MySQLdb


def connect() -> "MySQLdb.connections.Connection":
    """Open one connection to the application database. No retry: callers decide."""
    return MySQLdb.connect(
        host=os.environ.get("DB_HOST", "mysql"),
        port=int(os.environ.get("DB_PORT", "3306")),
        user=os.environ["DB_USER"],
        password=os.environ["DB_PASSWORD"],
        database=os.environ["DB_NAME"],
        connect_timeout=5,
        autocommit=True,
        charset="utf8mb4",
    )
