"""YAML sequence files → frozen, validated models."""

from seqctl.spec.loader import load_files, load_text
from seqctl.spec.mailboxes import Mailbox
from seqctl.spec.models import EmailStep, Sequence, SpecFile, Step

__all__ = ["EmailStep", "Mailbox", "Sequence", "SpecFile", "Step", "load_files", "load_text"]
