# SPDX-License-Identifier: ISC
"""A client that reads slowly still gets everything weir queued for it. The SASL final and
the welcome leave corked in one write; when the socket takes only part of them, the rest
must go out as soon as the client reads (the write event stays armed). A fake PostgreSQL
announces a 200 KB ParameterStatus, so the welcome is much larger than the socket buffers
(weir's are made small with tcp_socket_buffer, the client's with SO_RCVBUF)."""

import socket
import time

import pytest

from conftest import PgWire, wire_login
from fakepg import DEFAULT_PARAMETERS, FakePG, Script

USER, PASSWORD = "fake_user", "fake-pass-9"
BIG = "x" * 200_000


def config(fake, **keys):
    return {"weir": {"pool_mode": "transaction", **keys},
            "databases": {"fake": f"host=127.0.0.1 port={fake.port} dbname=fake"}}


def slow_login(port, pause):
    """A SCRAM login from a socket with a small receive buffer that waits `pause` seconds
    after sending its final message before it reads anything."""
    wire = PgWire.__new__(PgWire)
    wire.buf = b""
    wire.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    wire.sock.settimeout(10)
    wire.sock.connect(("127.0.0.1", port))
    real_send = wire.send

    def send_then_pause(data):
        real_send(data)
        if data[:1] == b"p" and b"c=biws" in data:  # the SCRAM client-final
            time.sleep(pause)
    wire.send = send_then_pause
    return wire


@pytest.mark.deadline(90)
def test_slow_reader_gets_the_whole_welcome_after_the_sasl_final(pg, weir):
    script = Script(auth="ok", parameters=DEFAULT_PARAMETERS + [("weir_big", BIG)])
    with FakePG(script) as fake:
        inst = weir(config(fake, tcp_socket_buffer=4096), users={USER: PASSWORD})
        with PgWire(inst.port) as first:  # the pool's first login: its welcome is known
            assert wire_login(first, USER, PASSWORD, "fake").parameters["weir_big"] == BIG
        wire = slow_login(inst.port, pause=1.0)
        try:
            result = wire_login(wire, USER, PASSWORD, "fake", timeout=15)
        finally:
            wire.close()
        assert result.parameters.get("weir_big") == BIG
        assert result.backend_key is not None


def test_a_server_announcing_megabytes_of_parameters_is_refused(pg, weir):
    """What weir keeps of a server's ParameterStatus at login is bounded (1 MB): a server
    that sends more fails its login, and the pool's clients get the error."""
    params = DEFAULT_PARAMETERS + [(f"weir_big_{i}", "y" * 500_000) for i in range(3)]
    with FakePG(Script(auth="ok", parameters=params)) as fake:
        inst = weir(config(fake), users={USER: PASSWORD})
        with PgWire(inst.port) as wire:
            with pytest.raises(Exception) as info:
                wire_login(wire, USER, PASSWORD, "fake")
        assert info.value.fields.get("C") == "08P01", info.value
        assert "more than 1 MB of ParameterStatus" in info.value.fields.get("M"), info.value
        assert inst.alive()
