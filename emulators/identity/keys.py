"""The emulated identity platform's signing key: one RSA key per process, RS256 JWTs.

Generating a 2048-bit key costs tens of milliseconds, so it is made once and shared by
every `IdentityPlatform` in the process (tests create many platforms).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    kid: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def sign(self, claims: Mapping[str, Any], *, typ: str = "JWT") -> str:
        headers = {"typ": typ, "kid": self.kid, "x5t": self.kid}
        return jwt.encode(dict(claims), self.private_key, algorithm="RS256", headers=headers)

    def jwk(self, issuer: str) -> dict[str, Any]:
        key: dict[str, Any] = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        key.update({"use": "sig", "kid": self.kid, "x5t": self.kid, "issuer": issuer})
        return key


@functools.cache
def signing_key() -> SigningKey:
    """The process-wide key; its kid is the base64url SHA-1 of the public key, like Entra's x5t."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha1(der, usedforsecurity=False).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return SigningKey(private_key=private_key, kid=kid)


def b64url_json(text: str) -> str:
    """base64url without padding, as Entra encodes `client_info`."""
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")
