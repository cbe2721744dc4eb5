"""A local stand-in for Azure Key Vault's keys REST API, served over TLS on 127.0.0.1.

It speaks what `azure.keyvault.keys.crypto.aio.CryptographyClient` sends: the bearer challenge (a
request without a valid token gets 401 with a `WWW-Authenticate: Bearer authorization=...,
resource=...` header), `GET /keys/{name}/{version}` (the public JWK of an RSA key),
`POST /keys/{name}/{version}/wrapkey` and `/unwrapkey` (RSA-OAEP and RSA-OAEP-256, base64url values),
and Key Vault's error body `{"error": {"code", "message"}}`. The certificate is self-signed for
127.0.0.1; clients trust it with `connection_verify=vault.ca_file`. Every request is recorded.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TENANT = "72f988bf-0000-0000-0000-000000000000"
RESOURCE = "https://vault.azure.net"
TOKEN = "test-token-for-the-local-vault"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class VaultRequest:
    method: str
    path: str
    authorization: str | None
    body: dict[str, Any] | None


class FakeCredential:
    """An async token credential that hands out the vault's test token and records the scopes asked for."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> FakeCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass


@dataclass
class LocalKeyVault:
    """Keys by name and version; `deny_get` makes key reads 403 so the client must wrap remotely."""

    keys: dict[str, dict[str, rsa.RSAPrivateKey]] = field(default_factory=dict)
    requests: list[VaultRequest] = field(default_factory=list)
    deny_get: bool = False
    url: str = ""
    ca_file: str = ""
    _runner: web.AppRunner | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def create_key(self, name: str) -> str:
        """A new RSA-2048 version of the key; returns its versioned identifier."""
        version = uuid.uuid4().hex
        self.keys.setdefault(name, {})[version] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return f"{self.url}/keys/{name}/{version}"

    async def start(self) -> LocalKeyVault:
        self._tmp = tempfile.TemporaryDirectory(prefix="keyvault-")
        cert_file, key_file = _self_signed(Path(self._tmp.name))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"https://127.0.0.1:{port}"
        self.ca_file = cert_file
        return self

    async def stop_serving(self) -> None:
        """Close the port (clients now meet a refused connection); the certificate stays for them."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        await self.stop_serving()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        authorization = request.headers.get("Authorization")
        self.requests.append(VaultRequest(request.method, request.path, authorization, body))
        if authorization != f"Bearer {TOKEN}":
            challenge = f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="{RESOURCE}"'
            return _error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", challenge)
        if "api-version" not in request.query:
            return _error(400, "BadParameter", "The api-version query parameter is required.")
        parts = request.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "keys":
            return _error(404, "NotFound", f"no route for {request.path}")
        name = parts[1]
        version = parts[2] if len(parts) > 2 else ""
        operation = parts[3] if len(parts) > 3 else ""
        found = self._key(name, version)
        if found is None:
            return _error(404, "KeyNotFound", f"A key with (name/id) {name}/{version} was not found in this key vault.")
        version, key = found
        kid = f"{self.url}/keys/{name}/{version}"
        if request.method == "GET" and not operation:
            if self.deny_get:
                return _error(403, "Forbidden", "The user does not have keys get permission on key vault.")
            return web.json_response(_bundle(kid, key))
        if request.method == "POST" and operation in ("wrapkey", "unwrapkey") and isinstance(body, dict):
            oaep = _padding(str(body.get("alg", "")))
            if oaep is None:
                return _error(400, "BadParameter", f"Invalid algorithm {body.get('alg')!r}.")
            value = from_b64url(str(body.get("value", "")))
            if operation == "wrapkey":
                return web.json_response({"kid": kid, "value": b64url(key.public_key().encrypt(value, oaep))})
            try:
                return web.json_response({"kid": kid, "value": b64url(key.decrypt(value, oaep))})
            except ValueError:
                return _error(400, "BadParameter", "The parameter is incorrect.")
        return _error(405, "BadRequest", f"{request.method} {request.path} is not supported by the local vault")

    def _key(self, name: str, version: str) -> tuple[str, rsa.RSAPrivateKey] | None:
        versions = self.keys.get(name, {})
        if not versions:
            return None
        if not version:
            version = list(versions)[-1]
        key = versions.get(version)
        return None if key is None else (version, key)


def _padding(alg: str) -> padding.OAEP | None:
    if alg == "RSA-OAEP-256":
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    if alg == "RSA-OAEP":
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303
    return None


def _bundle(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    now = int(time.time())
    return {
        "key": {
            "kid": kid,
            "kty": "RSA",
            "key_ops": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        },
        "attributes": {"enabled": True, "created": now, "updated": now, "recoveryLevel": "Recoverable+Purgeable"},
    }


def _error(status: int, code: str, message: str, challenge: str | None = None) -> web.Response:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _self_signed(folder: Path) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "vault.pem", folder / "vault.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)
