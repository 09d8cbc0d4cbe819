-- Loaded by the postgres image on first start (docker-entrypoint-initdb.d).
CREATE TABLE IF NOT EXISTS notes (
    id    SERIAL PRIMARY KEY,
    title TEXT NOT NULL,
    body  TEXT NOT NULL DEFAULT ''
);

INSERT INTO notes (title, body) VALUES
    ('first note', 'stored in Postgres, served by Flask');
