# SPDX-License-Identifier: ISC
"""weir as an operator meets it: an existing PgBouncer configuration starts it unchanged,
a bad one is refused with file:line, the command line answers --version and --help, it
will not run as root, and SIGHUP re-reads the auth_file."""

import re

import psycopg
import pytest

from conftest import format_auth_file, free_port, md5_secret, wait_until

PGBOUNCER_INI = """\
;; pgbouncer.ini of an existing installation
[databases]
; the application database
app = host=127.0.0.1 port={pg_port} dbname=app

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir = {dir}

# authentication
auth_type = md5
auth_file = {auth_file}

pool_mode = session
default_pool_size = 10
max_client_conn = 100
"""


def test_pgbouncer_ini_and_userlist_with_md5_and_scram_secrets_work_unchanged(pg, weir):
    users = [
        ("md5_user", md5_secret("md5_user", pg.passwords["md5_user"])),
        ("scram_user", pg.rolpassword("scram_user")),
    ]
    inst = weir(PGBOUNCER_INI, users=users)
    with inst.connect("md5_user") as conn:
        assert conn.execute("SELECT current_user, 1 + 1").fetchone() == ("md5_user", 2)


def minimal_ini(pg, run_dir, extra_line=None):
    """A valid weir.ini in run_dir (and an empty auth_file); with extra_line placed on a
    known line. Returns (path, the line number of extra_line)."""
    auth_file = run_dir / "userlist.txt"
    auth_file.write_text(format_auth_file({"scram_user": pg.passwords["scram_user"]}))
    lines = [
        "[weir]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {free_port()}",
        f"unix_socket_dir = {run_dir}",
        "auth_type = scram-sha-256",
        f"auth_file = {auth_file}",
    ]
    if extra_line:
        lines.append(extra_line)
    lines += ["", "[databases]", f"app = host=127.0.0.1 port={pg.port} dbname=app", ""]
    path = run_dir / "weir.ini"
    path.write_text("\n".join(lines))
    return path, (lines.index(extra_line) + 1 if extra_line else None)


def test_unknown_key_stops_start_up_with_file_and_line(pg, run_dir, run_weir):
    ini, line = minimal_ini(pg, run_dir, "no_such_setting = 1")
    code, out = run_weir(["-v", ini])
    assert code != 0, out
    assert re.search(rf"weir\.ini:{line}\b", out), f"no weir.ini:{line} in:\n{out}"
    assert "no_such_setting" in out, out


def test_bad_value_stops_start_up_with_file_and_line(pg, run_dir, run_weir):
    ini, line = minimal_ini(pg, run_dir, "default_pool_size = lots")
    code, out = run_weir(["-v", ini])
    assert code != 0, out
    assert re.search(rf"weir\.ini:{line}\b", out), f"no weir.ini:{line} in:\n{out}"


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_flag_prints_weir_and_its_version(run_weir, flag):
    code, out = run_weir([flag])
    assert code == 0, out
    first = out.splitlines()[0] if out else ""
    assert re.match(r"weir \d+\.\d+\.\d+", first), f"first line: {first!r}"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_flag_exits_0_and_prints_usage(run_weir, flag):
    code, out = run_weir([flag])
    assert code == 0, out
    assert "usage" in out.lower(), out


def test_no_config_file_is_an_error(run_weir):
    code, out = run_weir([])
    assert code != 0, out


def test_refuses_to_run_as_root(pg, run_dir, run_weir):
    ini, _ = minimal_ini(pg, run_dir)
    code, out = run_weir([ini], as_root=True)
    assert code != 0, out
    assert "root" in out.lower(), out


def test_sighup_rereads_auth_file_so_a_new_user_can_log_in(pg, weir):
    inst = weir(users={"scram_user": pg.passwords["scram_user"]})
    pid = inst.pid
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(inst.dsn("plain_user", pg.passwords["plain_user"]))

    with inst.connect("scram_user") as kept:
        inst.write_users({"scram_user": pg.passwords["scram_user"],
                          "plain_user": pg.passwords["plain_user"]})
        inst.reload()

        def plain_user_logs_in():
            with psycopg.connect(inst.dsn("plain_user", pg.passwords["plain_user"])) as conn:
                return conn.execute("SELECT current_user").fetchone() == ("plain_user",)
        wait_until(plain_user_logs_in, 10, "plain_user to log in after SIGHUP")
        assert kept.execute("SELECT 'kept'").fetchone() == ("kept",), "reload dropped a client"
    assert inst.alive() and inst.pid == pid
