"""FaultProxy against the real PostgreSQL: it forwards, holds, cuts, refuses and delays."""

import threading
import time

import psycopg
import pytest
from django.db import connection


def connect(proxy) -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        host="127.0.0.1", port=proxy.port, dbname=s["NAME"], user=s["USER"] or "root", connect_timeout=5
    )


def select_one(conn) -> int:
    return conn.execute("SELECT 1").fetchone()[0]


def test_forwards_queries_both_ways(db_proxy):
    with connect(db_proxy) as conn:
        assert select_one(conn) == 1
        assert db_proxy.open_connections == 1
    assert db_proxy.accepted == 1


def test_pause_holds_a_query_until_resume(db_proxy):
    with connect(db_proxy) as conn:
        db_proxy.pause()
        result = []
        query = threading.Thread(target=lambda: result.append(select_one(conn)))
        query.start()
        query.join(timeout=0.5)
        assert query.is_alive() and result == []  # held, not lost
        db_proxy.resume()
        query.join(timeout=10)
        assert result == [1]


def test_pause_holds_new_connections_too(db_proxy):
    db_proxy.pause()
    opened = []
    opener = threading.Thread(target=lambda: opened.append(connect(db_proxy)))
    opener.start()
    opener.join(timeout=0.5)
    assert opener.is_alive() and opened == []
    db_proxy.resume()
    opener.join(timeout=10)
    with opened[0] as conn:
        assert select_one(conn) == 1


def test_cut_breaks_open_connections_and_new_ones_work(db_proxy):
    with connect(db_proxy) as conn:
        db_proxy.cut()
        with pytest.raises(psycopg.OperationalError):
            select_one(conn)
    with connect(db_proxy) as conn:
        assert select_one(conn) == 1


def test_cut_with_refuse_turns_new_connections_away_until_restore(db_proxy):
    db_proxy.cut(refuse=True)
    with pytest.raises(psycopg.OperationalError):
        connect(db_proxy)
    assert db_proxy.refused == 1
    db_proxy.restore()
    with connect(db_proxy) as conn:
        assert select_one(conn) == 1


def test_cut_also_ends_a_held_query(db_proxy):
    with connect(db_proxy) as conn:
        db_proxy.pause()
        errors = []

        def query():
            try:
                select_one(conn)
            except psycopg.OperationalError as exc:
                errors.append(exc)

        held = threading.Thread(target=query)
        held.start()
        db_proxy.cut()
        held.join(timeout=10)
        assert not held.is_alive() and len(errors) == 1


def test_delay_adds_to_every_round_trip(db_proxy):
    with connect(db_proxy) as conn:
        db_proxy.delay(0.05)
        started = time.monotonic()
        for _ in range(3):
            select_one(conn)
        assert time.monotonic() - started >= 3 * 0.05  # a lower bound: each query waited
        db_proxy.restore()
        assert select_one(conn) == 1


def test_upstream_ports_are_the_sessions_client_ports(db_proxy):
    with connect(db_proxy) as conn:
        backend_port = conn.execute(
            "SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        ).fetchone()[0]
        assert db_proxy.upstream_ports() == {backend_port}
