"""Idempotency keys: one per (plugin, document type, record id, version)."""

from __future__ import annotations

import hashlib


def idempotency_key(plugin: str, kind: str, record_id: str, version: int) -> str:
    """Return the key every push of this record version to this plugin carries.

    The same version always gets the same key, so a target that remembers keys drops a
    repeated delivery; a new version gets a new key.
    """
    digest = hashlib.sha256(f"{plugin}\x1f{kind}\x1f{record_id}\x1f{version}".encode()).hexdigest()
    return f"crm-sync-{digest[:40]}"
