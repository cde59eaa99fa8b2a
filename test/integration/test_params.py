# SPDX-License-Identifier: ISC
"""Tracked parameters: what a client asks for at startup (its own values or `options`) is
what its server runs with, whatever server it gets, and nothing leaks to the next client."""

import psycopg
import pytest

from conftest import PgWire, WireError, wire_login


def one_server(extra=None):
    cfg = {"weir": {"default_pool_size": "1"}}
    if extra:
        cfg["weir"].update(extra)
    return cfg


def show(conn, name):
    return conn.execute(f"SHOW {name}").fetchone()[0]


def test_startup_options_are_applied_on_the_server(weir):
    inst = weir(one_server())
    opts = "-c TimeZone=Asia/Tokyo -c DateStyle=German"
    with inst.connect(autocommit=True, options=opts, application_name="opts-app") as conn:
        assert show(conn, "TimeZone") == "Asia/Tokyo"
        assert show(conn, "DateStyle") == "German, DMY"
        assert show(conn, "application_name") == "opts-app"


def test_client_sees_its_own_values_in_the_welcome(weir):
    inst = weir(one_server())
    with inst.connect(autocommit=True) as first:
        first.execute("SELECT 1")
    with inst.connect(autocommit=True, options="-c TimeZone=Asia/Tokyo",
                      application_name="welcome-app") as conn:
        assert conn.info.parameter_status("application_name") == "welcome-app"
        assert conn.info.parameter_status("TimeZone") == "Asia/Tokyo"


def test_parameters_do_not_leak_to_the_next_client(weir):
    inst = weir(one_server())
    with inst.connect(autocommit=True) as plain:
        default_tz = show(plain, "TimeZone")
    with inst.connect(autocommit=True, options="-c TimeZone=Asia/Tokyo",
                      application_name="first") as conn:
        assert show(conn, "TimeZone") == "Asia/Tokyo"
    with inst.connect(autocommit=True, application_name="second") as conn:
        assert show(conn, "TimeZone") == default_tz
        assert show(conn, "application_name") == "second"


def test_set_in_a_session_is_reported_to_the_client(weir):
    inst = weir(one_server())
    with inst.connect(autocommit=True) as conn:
        conn.execute("SET TimeZone = 'America/New_York'")
        assert conn.info.parameter_status("TimeZone") == "America/New_York"
        assert show(conn, "TimeZone") == "America/New_York"


def test_first_query_right_after_a_parameter_set_is_answered(weir):
    """Each connection needs a SET before its first query; the query's reply may arrive in
    the same read as the SET's. 300 connections alternate values on one server."""
    inst = weir(one_server())
    for i in range(300):
        name = f"app-{i % 2}"
        with inst.connect(autocommit=True, application_name=name, connect_timeout=5) as conn:
            conn.execute("SET statement_timeout = '5s'")
            assert conn.execute("SELECT current_setting('application_name')").fetchone() == (
                name,)


def test_unsupported_option_is_rejected_with_08P01(pg, weir):
    inst = weir(one_server())
    with PgWire(inst.port) as wire:
        with pytest.raises(WireError) as info:
            wire_login(wire, "scram_user", pg.passwords["scram_user"],
                       extra={"options": "-c work_mem=1MB"})
    assert info.value.sqlstate == "08P01", info.value.fields
    assert info.value.message == "unsupported startup parameter in options: work_mem"
    with pytest.raises(psycopg.OperationalError):
        inst.connect(options="-c work_mem=1MB").close()


def test_ignore_startup_parameters_lets_an_option_through(weir):
    inst = weir(one_server({"ignore_startup_parameters": "extra_float_digits, options"}))
    with inst.connect(autocommit=True, options="-c work_mem=1MB") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.parametrize("options", ["-c=", "-c =x", "--=1", "-c=work_mem"])
def test_option_with_an_empty_name_is_rejected_even_with_an_empty_ignore_entry(
        pg, weir, options):
    """A trailing comma leaves an empty element in ignore_startup_parameters; it must not
    match an option whose name is empty."""
    inst = weir(one_server({"ignore_startup_parameters": "extra_float_digits,"}))
    with PgWire(inst.port) as wire:
        with pytest.raises(WireError) as info:
            wire_login(wire, "scram_user", pg.passwords["scram_user"],
                       extra={"options": options})
    assert info.value.sqlstate == "08P01", info.value.fields
    assert info.value.message == "invalid startup parameter in options: empty name"
    with inst.connect(autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)



@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_tracked_value_longer_than_4_kb_is_applied(weir, mode):
    """The SET that applies a client's values is as long as they need (PostgreSQL itself
    keeps the first 63 bytes of an application_name)."""
    inst = weir(one_server({"pool_mode": mode}))
    with inst.connect(autocommit=True) as first:  # the pool's server now has other values
        first.execute("SELECT 1")
    name = "n" * 6000
    with inst.connect(autocommit=True, application_name=name) as conn:
        assert show(conn, "application_name") == name[:63]
        assert conn.execute("SELECT 'after the long SET'").fetchone() == ("after the long SET",)


def test_an_options_item_longer_than_1_kb_is_read_whole(weir):
    """An `options` item is never cut short (it once was, at 1,023 bytes): the name of an
    unsupported parameter 1,100 bytes long is read up to its `=` (cut at 1,023 bytes it had
    none, and the item was refused as malformed instead)."""
    inst = weir(one_server())
    name = "x" * 1100
    with PgWire(inst.port) as wire:
        with pytest.raises(WireError) as info:
            wire_login(wire, "scram_user", "unused", extra={"options": f"-c {name}=1"})
    assert info.value.sqlstate == "08P01"
    assert info.value.message.startswith(f"unsupported startup parameter in options: {name[:200]}")
    with inst.connect(autocommit=True, options="-c TimeZone=UTC") as conn:
        assert show(conn, "TimeZone") == "UTC"
