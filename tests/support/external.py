"""Regions that georep does not start: moto servers started apart from the lab, one of them
behind TLS with a self-signed certificate the tests trust (issue 17).

Each stands in for a real DynamoDB region: the lab reaches it by the ``endpoint`` of its
region file, never by a ``port``, so it runs as an external region does.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from georep.runtime.moto import MotoProcess, free_port

from .helpers import LAB, region_toml


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key (PEM), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def external_toml(name: str, aws_region: str, server: MotoProcess, ca: Path | None) -> str:
    out = f'name = "{name}"\naws_region = "{aws_region}"\nendpoint = "{server.url}"\n'
    return out + (f'ca_bundle = "{ca}"\n' if ca is not None else "")


@contextmanager
def external_regions(folder: Path, *, tls: bool = True, plain: bool = False,
                     local: bool = True, lab: str = LAB) -> Iterator[Path]:
    """A regions folder under ``folder``: the lab's us-east (a ``port``, started by the lab)
    when ``local``, eu-west served over https by a moto server started here (``tls``), and
    ap-south over plain http (``plain``); ``lab``: its lab.toml. Yields the folder; the
    servers stop after."""
    regions = folder / "regions"
    regions.mkdir()
    (regions / "lab.toml").write_text(lab)
    if local:
        (regions / "us-east.toml").write_text(region_toml("us-east", "us-east-1", free_port()))
    with ExitStack() as stack:
        if tls:
            cert, key = self_signed(folder)
            server = MotoProcess("eu-west", "eu-west-1", tls=(str(cert), str(key)))
            server.start()
            stack.callback(server.stop)
            (regions / "eu-west.toml").write_text(
                external_toml("eu-west", "eu-west-1", server, cert))
        if plain:
            server = MotoProcess("ap-south", "ap-south-1")
            server.start()
            stack.callback(server.stop)
            (regions / "ap-south.toml").write_text(
                external_toml("ap-south", "ap-south-1", server, None))
        yield regions
