"""A local HTTPS fake of the Salesforce REST API.

The org is the emulator the demo replays (tributary_demo.salesforce.SalesforceApi), fed from
the JSON fixtures in tests/fixtures/salesforce/, and served here over real HTTPS on
127.0.0.1 with a self-signed certificate generated at test time: simple-salesforce always
speaks https, so the source's whole HTTP path (requests, TLS, headers, paging URLs, Bulk 2.0
job polling) runs as it does against Salesforce.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tributary_demo.salesforce import SalesforceApi

FIXTURES = Path(__file__).parent / "fixtures" / "salesforce"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fake-salesforce.pem", directory / "fake-salesforce.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        api = self.server.api
        answer = api.handle(self.command, f"https://{api.host}{self.path}", self.headers, body)
        # The org's answer says its Date (or none): http.server's own would be this machine's.
        self.log_request(answer.status)
        self.send_response_only(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: SalesforceApi


class FakeSalesforce:
    """The fake org, served on https://127.0.0.1:<free port>."""

    def __init__(self, api: SalesforceApi, certificate: tuple[Path, Path]) -> None:
        self.api = api
        self.cert = certificate[0]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = api
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        api.host = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def instance_url(self) -> str:
        return f"https://{self.api.host}"

    def session(self) -> requests.Session:
        """A session trusting the fake's certificate. trust_env is off: this machine sets
        REQUESTS_CA_BUNDLE, which would override `verify`."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.cert)
        return session

    @contextmanager
    def running(self) -> Iterator[FakeSalesforce]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
