"""Rendering, message building and transports (SMTP, Maildir outbox, memory)."""
