"""The public HTTP API: the message of the day and what the bot has been doing."""

import os

from fastapi import FastAPI, HTTPException

from src.db import connect

app = FastAPI(title="seed-stack web")


@app.get("/")
def message_of_the_day() -> dict:
    """Read the current message (and the bot's last heartbeat) from MySQL."""
    conn = connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT id, body FROM messages ORDER BY id LIMIT 1")
        row = cur.fetchone()
        if row is None:
            raise HTTPException(status_code=404, detail="no message yet")
        cur.execute("SELECT COUNT(*), MAX(beat_at) FROM heartbeats")
        beats, last_beat = cur.fetchone()
        return {
            "id": row[0],
            "message": row[1],
            "heartbeats": beats,
            "last_heartbeat": last_beat.isoformat() if last_beat else None,
            "served_by_uid": os.getuid(),
        }
    finally:
        conn.close()


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}
