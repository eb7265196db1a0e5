"""Encryption at rest of Ironclad client secrets.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with MultiFernet for rotation:
the first key of SECRETS_KEY encrypts, every key decrypts, and `rotate` re-encrypts under the first.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretsKeyError(ValueError):
    pass


class SecretBox:
    def __init__(self, secrets_key: str) -> None:
        keys = [k.strip() for k in secrets_key.split(",") if k.strip()]
        if not keys:
            raise SecretsKeyError("SECRETS_KEY is empty: set one or more Fernet keys, comma-separated")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        except ValueError as exc:
            raise SecretsKeyError(
                "SECRETS_KEY must hold url-safe base64 32-byte keys (Fernet.generate_key()), comma-separated"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretsKeyError("stored secret cannot be decrypted with any key in SECRETS_KEY") from exc

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()
