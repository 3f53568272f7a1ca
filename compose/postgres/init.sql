-- Runs once, when the postgres container initialises an empty data directory
-- (/docker-entrypoint-initdb.d). The services create their own tables at start, so only the
-- databases are made here: `users` for user-service, `orders` for order-service.
--
-- Development stack only: the superuser is `postgres` with the password `postgres`
-- (POSTGRES_PASSWORD in docker-compose.yml), and the port is not published to the host.
CREATE DATABASE users;
CREATE DATABASE orders;
