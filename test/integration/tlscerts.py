# SPDX-License-Identifier: ISC
"""Certificates for the TLS tests, made at test time with the openssl CLI (never committed).

``make_certs(directory)`` writes into ``directory`` (owned by the unprivileged user, keys
mode 0600) and returns a ``Certs`` with the paths:

* ``ca`` / ``ca_key``: the test CA, which signs everything below except ``stranger``;
* ``server`` / ``server_key``: CN=localhost, SAN DNS:localhost and IP:127.0.0.1
  (PostgreSQL's and weir's);
* ``other_server``: CN=otherhost, SAN DNS:otherhost only (a wrong host name);
* ``client(name)``: a client certificate with CN=name, made on first use;
* ``stranger`` / ``stranger_ca``: a server certificate from a CA nobody trusts.
"""

import os
import subprocess
from pathlib import Path


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], check=True, cwd=cwd, capture_output=True)


class Certs:
    def __init__(self, directory, owner):
        self.dir = Path(directory)
        self.owner = owner  # (uid, gid) the files belong to
        self.ca, self.ca_key = self._ca("ca", "weir test CA")
        self.server, self.server_key = self.issue(
            "server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self.other_server, self.other_server_key = self.issue(
            "other", "otherhost", "subjectAltName=DNS:otherhost")
        self.stranger_ca, stranger_ca_key = self._ca("stranger-ca", "unknown CA")
        self.stranger, self.stranger_key = self.issue(
            "stranger", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ca=(self.stranger_ca, stranger_ca_key))
        self._clients = {}

    def _own(self, *paths):
        for p in paths:
            os.chown(p, *self.owner)
        for p in paths:
            if p.suffix == ".key":
                os.chmod(p, 0o600)

    def _ca(self, name, cn):
        key, crt = self.dir / f"{name}.key", self.dir / f"{name}.crt"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={cn}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self._own(key, crt)
        return crt, key

    def issue(self, name, cn, ext=None, ca=None):
        """A key and a certificate with CN=cn signed by ca (default: the test CA)."""
        ca_crt, ca_key = ca or (self.ca, self.ca_key)
        key, csr, crt = (self.dir / f"{name}.{s}" for s in ("key", "csr", "crt"))
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", f"/CN={cn}", cwd=self.dir)
        args = ["x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                "-CAcreateserial", "-out", crt, "-days", "2", "-sha256"]
        if ext:
            extfile = self.dir / f"{name}.ext"
            extfile.write_text(ext + "\n")
            args += ["-extfile", extfile]
        _openssl(*args, cwd=self.dir)
        self._own(key, crt)
        return crt, key

    def client(self, name):
        """(certificate, key) of a client certificate with CN=name."""
        if name not in self._clients:
            self._clients[name] = self.issue(f"client-{len(self._clients)}", name,
                                             "extendedKeyUsage=clientAuth")
        return self._clients[name]


def make_certs(directory, owner):
    return Certs(directory, owner)
