"""A small notes service: notes live in Postgres, page views are counted in Redis."""

import os

import psycopg2
import psycopg2.extras
import redis
from flask import Flask, abort, g, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ.get("REDIS_URL", "redis://redis:6379/0"),
    )
    cache = redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=3)

    def db():
        if "db" not in g:
            g.db = psycopg2.connect(app.config["DATABASE_URL"], connect_timeout=5)
        return g.db

    @app.teardown_appcontext
    def close_db(_exc):
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    @app.get("/")
    def index():
        hits = cache.incr("hits")
        with db().cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute("SELECT id, title, body FROM notes ORDER BY id")
            notes = cur.fetchall()
        return jsonify(hits=hits, notes=notes, uid=os.getuid())

    @app.post("/notes")
    def add_note():
        data = request.get_json(force=True, silent=True) or {}
        if not data.get("title"):
            abort(400, "title is required")
        conn = db()
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO notes (title, body) VALUES (%s, %s) RETURNING id",
                (data["title"], data.get("body", "")),
            )
            note_id = cur.fetchone()[0]
        conn.commit()
        return jsonify(id=note_id), 201

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    return app
