"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`.

The key comes from M365SYNC_SECRET_KEY, or from a key file created with mode 0600 in
the data directory on first start. Losing the key loses the stored secrets (they can
be entered again); it never loses directory or PBX data.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from store.errors import SecretKeyError


class SecretBox:
    """Encrypts and decrypts small secrets. Accepts several keys, newest first, for rotation."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretKeyError("no secret key given")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except ValueError as exc:
            raise SecretKeyError(
                "M365SYNC_SECRET_KEY must be a Fernet key: 32 url-safe base64-encoded bytes "
                "(make one with `m365sync keygen`)"
            ) from exc

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes, *, what: str = "a stored secret") -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretKeyError(
                f"the secret key cannot decrypt {what}: M365SYNC_SECRET_KEY (or the key file) "
                "is not the key this database was written with"
            ) from None

    def encrypt_text(self, plaintext: str) -> bytes:
        return self.encrypt(plaintext.encode())

    def decrypt_text(self, token: bytes, *, what: str = "a stored secret") -> str:
        return self.decrypt(token, what=what).decode()


def generate_key() -> str:
    return Fernet.generate_key().decode()


def load_secret_box(secret_key: str | None, key_file: Path) -> SecretBox:
    """The key from the environment (comma-separated, newest first), else the key file."""
    if secret_key:
        return SecretBox([k.strip().encode() for k in secret_key.split(",") if k.strip()])
    return SecretBox([_read_or_create_key_file(key_file)])


def _read_or_create_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        # link() fails if the name exists: when two processes start at once,
        # exactly one key wins and both use it; nobody reads a half-written file.
        os.link(tmp, path)
    except FileExistsError:
        return path.read_bytes().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key
