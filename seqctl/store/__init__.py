"""The only package that talks to the database. Verbs return plain frozen dataclasses."""

from seqctl.store.db import Database

__all__ = ["Database"]
