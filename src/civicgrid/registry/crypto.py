"""Personal numbers at rest: AES-256-GCM field encryption with a key id (for rotation), a keyed hash (HMAC-SHA256)
for exact search, and the masks shown to roles that may not unmask.

A stored value reads `kid$base64url(nonce | ciphertext+tag)`. Keys come from `CIVICGRID_REGISTRY_KEYS`
("kid:base64key,..." newest first): the first encrypts, every listed key decrypts, so rotation is: put the new
key first, keep the old one listed, run `civicgrid registry rekey`, then drop the old key. The hash key
(`CIVICGRID_REGISTRY_HASH_KEY`) is separate and does not rotate with them (changing it means re-hashing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from civicgrid.config import get_settings

DEV_KID = "dev"


class KeyError_(Exception):
    """A stored value names a key that is not configured (or the configuration is malformed)."""


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: dict[str, AESGCM]
    hash_key: bytes

    def encrypt(self, plaintext: str, purpose: str) -> str:
        """Encrypt with the current key; `purpose` (e.g. "resident.id_number") is bound as associated data."""
        return self.encrypt_many([plaintext], purpose)[0]

    def encrypt_many(self, plaintexts: list[str], purpose: str) -> list[str]:
        """encrypt() for many values (imports): one call for all the random nonces."""
        aes, prefix, ad = self.keys[self.current], f"{self.current}$", purpose.encode()
        nonces = os.urandom(12 * len(plaintexts))
        out = []
        for k, text in enumerate(plaintexts):
            nonce = nonces[12 * k:12 * k + 12]
            out.append(prefix + base64.urlsafe_b64encode(nonce + aes.encrypt(nonce, text.encode(), ad)).decode()
                       .rstrip("="))
        return out

    def decrypt(self, stored: str, purpose: str) -> str:
        kid, _, body = stored.partition("$")
        aes = self.keys.get(kid)
        if aes is None:
            raise KeyError_(f"registry key {kid!r} is not configured")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return aes.decrypt(raw[:12], raw[12:], purpose.encode()).decode()

    def key_id(self, stored: str) -> str:
        return stored.partition("$")[0]

    def digest(self, value: str, purpose: str) -> str:
        """The keyed hash used to find a record by its exact number without decrypting anything."""
        return hmac.digest(self.hash_key, f"{purpose}:{value}".encode(), "sha256").hex()[:40]


def _derive(secret: str, label: str) -> bytes:
    return hashlib.sha256(f"civicgrid-registry|{label}|{secret}".encode()).digest()


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """'kid:base64,kid:base64' → [(kid, 32-byte key)], newest first."""
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kid, sep, b64 = part.partition(":")
        if not sep or not kid or "$" in kid:
            raise KeyError_("CIVICGRID_REGISTRY_KEYS entries must read kid:base64key")
        key = base64.b64decode(b64 + "=" * (-len(b64) % 4))
        if len(key) != 32:
            raise KeyError_(f"registry key {kid!r} must be 32 bytes (AES-256)")
        out.append((kid, key))
    return out


@lru_cache(maxsize=8)
def _keyring(keys_spec: str, hash_spec: str, secret: str) -> Keyring:
    keys = parse_keys(keys_spec) or [(DEV_KID, _derive(secret, "enc"))]
    hash_key = base64.b64decode(hash_spec) if hash_spec else _derive(secret, "hash")
    return Keyring(current=keys[0][0], keys={k: AESGCM(v) for k, v in keys}, hash_key=hash_key)


def keyring() -> Keyring:
    """The process's keyring from settings (cached per configuration, so tests may change it)."""
    s = get_settings()
    return _keyring(s.registry_keys, s.registry_hash_key, s.secret_key)


def new_key_spec(kid: str) -> str:
    """A fresh 'kid:base64' entry for CIVICGRID_REGISTRY_KEYS."""
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def mask_id(number: str) -> str:
    """4419**********123X: division prefix and last four kept."""
    return number[:4] + "*" * max(0, len(number) - 8) + number[-4:] if len(number) > 8 else "*" * len(number)


def mask_phone(phone: str) -> str:
    """138****5678."""
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:] if len(phone) > 7 else "*" * len(phone)
