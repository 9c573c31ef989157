"""Notification payloads (Slack, Standard Webhooks JSON, a plain-text email) and their
HTTP delivery."""
