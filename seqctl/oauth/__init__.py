"""OAuth 2.0 for real mailboxes (Google Workspace / Gmail, Microsoft 365, any RFC 6749 /
RFC 8628 provider): the providers' endpoints and scopes as data (`presets`), SASL for
bearer tokens (`seqctl.delivery.sasl`) and sealed token storage (`seqctl.token_box`)."""
