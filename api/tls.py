"""The certificate ``connectome serve --tls`` serves HTTPS with.

A configured pair (``CONNECTOME_API_TLS_CERT`` and ``CONNECTOME_API_TLS_KEY``, PEM files) is
used as it is. Otherwise a self-signed certificate is made on first use under
``<data_dir>/tls/`` (``cert.pem``, and ``key.pem`` with mode 0600): an EC P-256 key, valid
for ten years, with subject alternative names ``localhost``, ``127.0.0.1``, ``::1`` and the
host the server binds. It is kept and reused while it names that host; a server bound to
another host gets a new one. Clients must be told to trust it (``verify=False`` in
neuprint-python, or its ``cert.pem`` as the CA bundle).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 3650


class TlsError(ValueError):
    """A configured certificate that cannot be used; one sentence."""


def _names(host: str) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName("localhost")]
    hosts = ["127.0.0.1", "::1"]
    if host not in ("", "0.0.0.0", "::") and host not in hosts and host != "localhost":
        hosts.append(host)
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h.strip("[]"))))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def _san(cert: x509.Certificate) -> list[x509.GeneralName]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value)


def self_signed(host: str) -> tuple[bytes, bytes]:
    """A new self-signed certificate and its private key, both PEM.

    Examples
    --------
    >>> cert_pem, key_pem = self_signed("10.0.0.5")
    >>> cert = x509.load_pem_x509_certificate(cert_pem)
    >>> sorted(str(n.value) for n in _san(cert))
    ['10.0.0.5', '127.0.0.1', '::1', 'localhost']
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connectome (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(host)), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def certificate(
    tls_dir: Path, host: str, cert: Path | None = None, key: Path | None = None
) -> tuple[Path, Path]:
    """The certificate and key files to serve ``host`` with (made in ``tls_dir`` if needed).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "tls"
    >>> cert, key = certificate(d, "127.0.0.1")
    >>> cert.name, key.name, oct(key.stat().st_mode & 0o777)
    ('cert.pem', 'key.pem', '0o600')
    >>> certificate(d, "127.0.0.1") == (cert, key)  # kept
    True
    """
    if (cert is None) != (key is None):
        raise TlsError("set both CONNECTOME_API_TLS_CERT and CONNECTOME_API_TLS_KEY, or neither")
    if cert is not None and key is not None:
        for path, what in ((cert, "certificate"), (key, "key")):
            if not Path(path).is_file():
                raise TlsError(f"the TLS {what} {path} does not exist")
        return Path(cert), Path(key)
    cert_path, key_path = tls_dir / "cert.pem", tls_dir / "key.pem"
    if cert_path.is_file() and key_path.is_file():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if all(n in _san(existing) for n in _names(host)):
            return cert_path, key_path
    tls_dir.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = self_signed(host)
    tmp_key = key_path.with_name(f".{key_path.name}.{os.getpid()}")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    tmp_cert = cert_path.with_name(f".{cert_path.name}.{os.getpid()}")
    tmp_cert.write_bytes(cert_pem)
    os.replace(tmp_key, key_path)
    os.replace(tmp_cert, cert_path)
    return cert_path, key_path
