"""Secrets seqctl keeps in its database (a mailbox's OAuth tokens), sealed with AES-256-GCM
under a key derived from SEQCTL_SECRET (HKDF-SHA256), so that every tick host sharing the
database and the secret can use them and nobody reading the database alone can.

What is sealed is bound to its context (the mailbox's key) as associated data: a sealed
token copied to another mailbox's row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1:"  # a format (and key derivation) marker, so it can change later
_INFO = b"seqctl token box v1"


class SealBroken(Exception):
    """What was sealed does not open: another SEQCTL_SECRET, another context, or altered."""


def _key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())


def seal(secret: str, context: str, plaintext: bytes) -> str:
    nonce = os.urandom(12)  # 96 bits, random per message (AES-GCM's recommended size)
    sealed = AESGCM(_key(secret)).encrypt(nonce, plaintext, context.encode())
    return VERSION + base64.b64encode(nonce + sealed).decode("ascii")


def open_sealed(secret: str, context: str, sealed: str) -> bytes:
    if not sealed.startswith(VERSION):
        raise SealBroken("not a sealed value of this version")
    try:
        raw = base64.b64decode(sealed[len(VERSION) :], validate=True)
        return AESGCM(_key(secret)).decrypt(raw[:12], raw[12:], context.encode())
    except (binascii.Error, ValueError, InvalidTag):
        raise SealBroken("the sealed value does not open with this secret and context") from None
