'use strict';

const express = require('express');
const { pool, migrate } = require('./db');

const app = express();
app.use(express.json());

app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));

app.get('/todos', async (_req, res, next) => {
  try {
    const [rows] = await pool.query('SELECT id, title, done FROM todos ORDER BY id');
    res.json({ todos: rows, uid: process.getuid() });
  } catch (err) {
    next(err);
  }
});

app.post('/todos', async (req, res, next) => {
  const title = (req.body && req.body.title) || '';
  if (!title) return res.status(400).json({ error: 'title is required' });
  try {
    const [result] = await pool.query('INSERT INTO todos (title) VALUES (?)', [title]);
    res.status(201).json({ id: result.insertId, title, done: false });
  } catch (err) {
    next(err);
  }
});

app.use((err, _req, res, _next) => {
  console.error(err);
  res.status(500).json({ error: err.message });
});

const port = Number(process.env.PORT || 3000);

// The schema is created before the server listens; if the database is not reachable
// yet, the app exits (no retry loop).
migrate()
  .then(() => {
    app.listen(port, () => console.log(`todo-api listening on :${port}`));
  })
  .catch((err) => {
    console.error(`todo-api: database not ready: ${err.message}`);
    process.exit(1);
  });
