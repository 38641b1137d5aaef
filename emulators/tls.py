"""A test certificate authority for the HTTPS emulators.

MSAL and azure-identity refuse plain-HTTP authorities, so the identity platform and
Graph emulator serve TLS with a certificate from a `trustme` CA whose PEM is written
to the state directory for clients to trust explicitly. `trustme` is a test tool, not a
runtime dependency of the daemon: it comes with the `demo` (and `test`) extra.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True, slots=True)
class TestCA:
    ca_path: Path
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this CA only (ignores SSL_CERT_FILE and friends)."""
        return client_context(self.ca_path)


def create_test_ca(state_dir: Path) -> TestCA:
    """Make a fresh CA and a server certificate for the loopback names; write `ca.pem`."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - depends on how the package was installed
        raise RuntimeError(
            "the emulators need trustme: pip install 'm365sync[demo]' (or `make demo`)"
        ) from None
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="m365sync emulator test CA")
    server_cert = ca.issue_cert(*_HOSTS)
    ca_path = state_dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    return TestCA(ca_path=ca_path, server_context=context)


def client_context(ca_path: Path | str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_path))
