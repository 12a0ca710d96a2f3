"""Django's PostgreSQL backend (ENGINE "accessmgr.postgresql"), with one change: a pooled
connection is checked before it is handed out, and when it is broken every idle connection
is checked at once.

A database restart or a network reset breaks all the pool's idle connections together.
psycopg_pool's own check (Django's CONN_HEALTH_CHECKS) finds them one at a time and waits
1, 2, 4 … s between two broken ones, so with several idle connections a request runs out
of DB_POOL_TIMEOUT. Here the first broken one makes the pool test the rest (pool.check(),
no waiting), and the request gets a working connection, or a new one."""

import psycopg
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if self.pool is None:
            return connection
        try:
            ConnectionPool.check_connection(connection)
        except psycopg.Error:
            self.pool.putconn(connection)  # broken: the pool discards it
            self.pool.check()
            connection = super().get_new_connection(conn_params)
        return connection
