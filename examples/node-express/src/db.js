'use strict';

const mysql = require('mysql2/promise');

const pool = mysql.createPool({
  host: process.env.DB_HOST || 'mysql',
  port: Number(process.env.DB_PORT || 3306),
  user: process.env.DB_USER,
  password: process.env.DB_PASSWORD,
  database: process.env.DB_NAME,
  connectionLimit: 5,
  connectTimeout: 5000,
});

// Creates the schema the app needs. Runs once at start-up.
async function migrate() {
  await pool.query(`CREATE TABLE IF NOT EXISTS todos (
    id INT AUTO_INCREMENT PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
  )`);
  const [rows] = await pool.query('SELECT COUNT(*) AS n FROM todos');
  if (rows[0].n === 0) {
    await pool.query('INSERT INTO todos (title) VALUES (?)', ['try harden on this repo']);
  }
}

module.exports = { pool, migrate };
