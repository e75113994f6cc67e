"""Certificates and kubeconfigs for the embedded cluster (one CA, one key per identity)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Identity:
    """A client or serving identity: CN is the user, O the groups (Kubernetes x509 authn)."""

    name: str
    common_name: str
    organizations: tuple[str, ...] = ()
    ip_sans: tuple[str, ...] = ()
    dns_sans: tuple[str, ...] = ()
    server: bool = False


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


class PKI:
    """A directory of PEM files: ``ca.crt``/``ca.key``, ``<name>.crt``/``<name>.key``, ``sa.*``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str, suffix: str) -> Path:
        return self.directory / f"{name}.{suffix}"

    def ensure_ca(self) -> None:
        """Create the cluster CA and the service-account signing key unless they exist."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.path("ca", "crt").exists():
            key = ec.generate_private_key(ec.SECP256R1())
            now = datetime.datetime.now(datetime.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(_name("podnet-local-ca"))
                .issuer_name(_name("podnet-local-ca"))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .sign(key, hashes.SHA256())
            )
            _write_key(self.path("ca", "key"), key)
            self.path("ca", "crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        if not self.path("sa", "key").exists():
            sa_key = ec.generate_private_key(ec.SECP256R1())
            _write_key(self.path("sa", "key"), sa_key)
            self.path("sa", "pub").write_bytes(
                sa_key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )

    def issue(self, identity: Identity) -> None:
        """Sign a certificate for ``identity`` with the CA unless one exists already."""
        if self.path(identity.name, "crt").exists():
            return
        ca_key = serialization.load_pem_private_key(self.path("ca", "key").read_bytes(), None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.path("ca", "crt").read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        usage = (
            ExtendedKeyUsageOID.SERVER_AUTH if identity.server else ExtendedKeyUsageOID.CLIENT_AUTH
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(identity.common_name, identity.organizations))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(name) for name in identity.dns_sans]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in identity.ip_sans]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(self.path(identity.name, "key"), key)
        self.path(identity.name, "crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def kubeconfig(self, identity_name: str, server: str, path: Path, context: str) -> Path:
        """Write a kubeconfig for ``identity_name`` (certificates embedded, so it can be copied)."""
        import base64

        def b64(file: Path) -> str:
            return base64.b64encode(file.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": b64(self.path("ca", "crt")),
                    },
                }
            ],
            "users": [
                {
                    "name": identity_name,
                    "user": {
                        "client-certificate-data": b64(self.path(identity_name, "crt")),
                        "client-key-data": b64(self.path(identity_name, "key")),
                    },
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": identity_name}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path
