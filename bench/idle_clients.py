# SPDX-License-Identifier: ISC
"""Open many logged-in PostgreSQL client connections and hold them idle.

Used by bench/run for the idle-client memory scenario: it speaks just enough of the v3
protocol (startup packet, SCRAM-SHA-256 or md5 authentication, wait for ReadyForQuery)
over plain asyncio sockets, so that one small process can hold ten thousand sessions.

    python3 idle_clients.py HOST PORT USER DATABASE COUNT

The password comes from the PGPASSWORD environment variable. Once every connection has
logged in (or failed), one line goes to stdout:

    ready <logged-in> failed <failed> seconds <elapsed>

followed by up to five lines "error: ..." describing failures. The connections are then
held until a line (or end of file) arrives on stdin, after which each sends Terminate and
closes, and the program prints "closed" and exits.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import struct
import sys
import time

PROTOCOL_V3 = 196608
IN_FLIGHT = 128  # logins in progress at once; keeps listen backlogs from overflowing

_salted_cache = {}


def _message(kind, payload):
    return kind + struct.pack("!I", len(payload) + 4) + payload


def _startup(user, database):
    body = struct.pack("!I", PROTOCOL_V3)
    for key, value in (("user", user), ("database", database)):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


async def _read_message(reader):
    header = await reader.readexactly(5)
    kind, length = header[:1], struct.unpack("!I", header[1:])[0]
    if length < 4 or length > 1 << 20:
        raise ValueError(f"bad message length {length}")
    return kind, await reader.readexactly(length - 4)


def _error_text(payload):
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[part[:1]] = part[1:].decode(errors="replace")
    return f"{fields.get(b'C', '?')} {fields.get(b'M', '?')}"


def _salted_password(password, salt, iterations):
    key = (salt, iterations)
    if key not in _salted_cache:
        _salted_cache[key] = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return _salted_cache[key]


class _Scram:
    """Client side of SCRAM-SHA-256 without channel binding (RFC 5802, RFC 7677)."""

    def __init__(self, password):
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"

    def initial(self):
        first = ("n,," + self.first_bare).encode()
        return b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first

    def final(self, server_first):
        attrs = dict(item.split("=", 1) for item in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise ValueError("server nonce does not extend ours")
        salted = _salted_password(self.password, base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = ",".join((self.first_bare, server_first, without_proof)).encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def _md5_response(user, password, salt):
    inner = hashlib.md5((password + user).encode()).hexdigest()
    return b"md5" + hashlib.md5(inner.encode() + salt).hexdigest().encode() + b"\0"


async def _login(host, port, user, database, password):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(_startup(user, database))
        scram = None
        while True:
            kind, payload = await _read_message(reader)
            if kind == b"E":
                raise RuntimeError(_error_text(payload))
            if kind == b"Z":
                return reader, writer
            if kind != b"R":
                continue  # ParameterStatus, BackendKeyData, NoticeResponse
            code = struct.unpack("!I", payload[:4])[0]
            if code == 10:  # AuthenticationSASL
                scram = _Scram(password)
                writer.write(_message(b"p", scram.initial()))
            elif code == 11:  # AuthenticationSASLContinue
                writer.write(_message(b"p", scram.final(payload[4:].decode())))
            elif code == 5:  # AuthenticationMD5Password
                writer.write(_message(b"p", _md5_response(user, password, payload[4:8])))
            elif code == 3:  # AuthenticationCleartextPassword
                writer.write(_message(b"p", password.encode() + b"\0"))
            elif code not in (0, 12):  # AuthenticationOk, AuthenticationSASLFinal
                raise RuntimeError(f"unsupported authentication request {code}")
    except BaseException:
        writer.close()
        raise


async def _main(host, port, user, database, count):
    password = os.environ.get("PGPASSWORD", "")
    gate = asyncio.Semaphore(IN_FLIGHT)
    errors = []

    async def one():
        async with gate:
            try:
                return await _login(host, port, user, database, password)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                errors.append(f"{type(exc).__name__}: {exc}")
                return None

    start = time.monotonic()
    results = await asyncio.gather(*(one() for _ in range(count)))
    sessions = [r for r in results if r is not None]
    print(f"ready {len(sessions)} failed {len(errors)} seconds {time.monotonic() - start:.2f}")
    for text in errors[:5]:
        print(f"error: {text}")
    sys.stdout.flush()

    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for _, writer in sessions:
        try:
            writer.write(_message(b"X", b""))
            writer.close()
        except OSError:
            pass
    await asyncio.sleep(0.2)
    print("closed", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    asyncio.run(_main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])))
