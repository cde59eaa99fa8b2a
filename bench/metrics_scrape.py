# SPDX-License-Identifier: ISC
"""How a /metrics scrape of many pools weighs on weir's loop while pgbench runs.

    python3 bench/metrics_scrape.py [--weir-bin build-bench/weir] [--pools 1000]
                                    [--seconds 20] [--clients 10] [--interval 0]

As root on Debian 12 with PostgreSQL 15 and pgbench installed (bench/run installs both and
builds build-bench/weir). It starts a scratch PostgreSQL and weir (transaction pooling,
metrics_port set, verbose so that weir logs one line per scrape), makes --pools pools (one
failed login per database name PostgreSQL does not have: the pool stays, with its zero
figures, which take as much room in a scrape as busy ones), then runs pgbench -S through
weir twice: once alone, once while /metrics is scraped (back to back, or every --interval
seconds). It prints

  - per scrape: size, wall time seen by the scraper, steps, and the longest step (how long
    weir's loop was held at once), from weir's own "metrics: scrape of ..." debug lines;
  - pgbench's tps and mean latency without and with the scrapes.

Not part of the test suite: nothing here is asserted.
"""

import argparse
import os
import pwd
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
RUN_USER = "weir"
SCRAPE_LINE = re.compile(r"metrics: scrape of (\d+) bytes in (\d+) steps, ([\d.]+) ms, "
                         r"longest step (\d+) us \((\d+) us of CPU\)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_user():
    pw = pwd.getpwnam(RUN_USER)
    return dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[], cwd="/")


def wait_port(port, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within {timeout}s")


def start_postgres(base):
    data, port = base / "data", free_port()
    subprocess.run([PG_BIN / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"],
                   check=True, capture_output=True, **as_user())
    with open(data / "postgresql.conf", "a") as f:
        f.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{base}'\nmax_connections = 100\nfsync = off\n")
    subprocess.run([PG_BIN / "pg_ctl", "-D", data, "-l", base / "pg.log", "-w", "start"],
                   check=True, capture_output=True, **as_user())
    subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "bench"],
                   check=True, **as_user())
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p", str(port),
                    "-U", "postgres", "bench"], check=True, capture_output=True, **as_user())
    return data, port


def start_weir(binary, base, pg_port, pool_size):
    port, mport = free_port(), free_port()
    auth = base / "userlist.txt"
    auth.write_text('"postgres" ""\n')
    ini = base / "weir.ini"
    ini.write_text(f"""[weir]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir = {base}
auth_type = trust
auth_file = {auth}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 2000
server_login_retry = 0
metrics_port = {mport}

[databases]
* = host=127.0.0.1 port={pg_port}
""")
    log = open(base / "weir.log", "wb")
    proc = subprocess.Popen([str(binary), "-v", str(ini)], stdout=log, stderr=log, **as_user())
    wait_port(port, "weir")
    return proc, port, mport


def startup_packet(user, database):
    body = struct.pack("!I", 196608)
    for k, v in (("user", user), ("database", database)):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def failed_login(port, database):
    """One login that fails at the server: weir keeps the pool it made for it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(startup_packet("postgres", database))
        while s.recv(65536):
            pass


def make_pools(port, count):
    start = time.monotonic()
    for i in range(count):
        failed_login(port, f"nodb_{i}")
    return time.monotonic() - start


def pgbench(port, clients, seconds):
    out = subprocess.run(["pgbench", "-S", "-n", "-M", "simple", "-c", str(clients), "-j", "2",
                          "-T", str(seconds), "-h", "127.0.0.1", "-p", str(port), "-U",
                          "postgres", "bench"], check=True, capture_output=True, text=True,
                         **as_user()).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    lat = float(re.search(r"latency average = ([\d.]+) ms", out).group(1))
    return tps, lat


def scrape_loop(mport, stop, results, interval):
    while not stop.wait(interval if results else 0):
        start = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=60) as r:
            size = len(r.read())
        results.append((size, time.monotonic() - start))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weir-bin", default=str(REPO / "build-bench" / "weir"))
    ap.add_argument("--pools", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--interval", type=float, default=0,
                    help="seconds between scrapes (default 0: back to back)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="weir-mbench-", dir="/tmp"))
    os.chown(base, *pwd.getpwnam(RUN_USER)[2:4])
    data, pg_port = start_postgres(base)
    proc = None
    try:
        proc, port, mport = start_weir(args.weir_bin, base, pg_port, args.clients)
        took = make_pools(port, args.pools - 1)
        print(f"{args.pools - 1} pools made in {took:.1f}s (plus pgbench's)")
        base_tps, base_lat = pgbench(port, args.clients, args.seconds)
        stop, results = threading.Event(), []
        scraper = threading.Thread(target=scrape_loop, args=(mport, stop, results,
                                                                 args.interval))
        scraper.start()
        tps, lat = pgbench(port, args.clients, args.seconds)
        stop.set()
        scraper.join()
        lines = SCRAPE_LINE.findall((base / "weir.log").read_text())
        print(f"pgbench -S -c {args.clients} -T {args.seconds}: alone {base_tps:.0f} tps, "
              f"{base_lat:.3f} ms; while scraped {tps:.0f} tps, {lat:.3f} ms "
              f"({100 * (tps / base_tps - 1):+.1f} % tps)")
        print(f"{len(results)} scrapes while pgbench ran")
        sizes = [s for s, _ in results]
        walls = sorted(w for _, w in results)
        print(f"scrape size {min(sizes)}..{max(sizes)} bytes; wall time median "
              f"{walls[len(walls) // 2] * 1000:.0f} ms, max {walls[-1] * 1000:.0f} ms")
        steps = [int(n) for _, n, _, _, _ in lines]
        longest = sorted(int(us) for _, _, _, us, _ in lines)
        cpu = sorted(int(us) for _, _, _, _, us in lines)
        ms = sorted(float(t) for _, _, t, _, _ in lines)
        print(f"weir: {len(lines)} scrapes logged, {min(steps)}..{max(steps)} steps each, "
              f"{ms[len(ms) // 2]:.0f} ms median from request to last byte")
        print(f"longest step per scrape (the loop held at once): wall median "
              f"{longest[len(longest) // 2]} us, max {longest[-1]} us; CPU median "
              f"{cpu[len(cpu) // 2]} us, max {cpu[-1]} us")
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        subprocess.run([PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, **as_user())
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
