-- Runs once, when the MySQL data volume is first initialised.
CREATE TABLE IF NOT EXISTS messages (
    id INT AUTO_INCREMENT PRIMARY KEY,
    body VARCHAR(255) NOT NULL
);

CREATE TABLE IF NOT EXISTS heartbeats (
    id INT AUTO_INCREMENT PRIMARY KEY,
    bot VARCHAR(64) NOT NULL,
    beat_at DATETIME NOT NULL
);

INSERT INTO messages (body) VALUES ('Hello from MySQL: the seed stack is up.');
