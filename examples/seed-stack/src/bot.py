"""The worker: connects to MySQL once at start-up, then records a heartbeat every few seconds.

It deliberately does not retry the first connection: if MySQL is not accepting
connections yet, the bot dies with "Can't connect to MySQL server" and stays down.
"""

import os
import socket
import sys
import time

from src.db import connect

INTERVAL = float(os.environ.get("BOT_INTERVAL", "3"))


def main() -> int:
    print("bot: connecting to MySQL", flush=True)
    conn = connect()  # raises MySQLdb.OperationalError when the server is not ready
    print("bot: connected", flush=True)
    cur = conn.cursor()
    name = socket.gethostname()
    while True:
        cur.execute("INSERT INTO heartbeats (bot, beat_at) VALUES (%s, NOW())", (name,))
        print(f"bot: heartbeat {cur.lastrowid}", flush=True)
        time.sleep(INTERVAL)


if __name__ == "__main__":
    sys.exit(main())
