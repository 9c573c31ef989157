"""The providers' first steps, checked against what Microsoft and Google document: the
endpoints, the scopes and the request parameters a login starts with."""

from __future__ import annotations

import pytest

from seqctl.oauth import presets


def test_microsoft_device_login_starts_at_the_tenants_devicecode_endpoint_with_the_mail_scopes() -> None:
    url, form = presets.device_authorization_request(presets.microsoft("acme.example"), "client-123")
    assert url == "https://login.microsoftonline.com/acme.example/oauth2/v2.0/devicecode"
    assert form == {
        "client_id": "client-123",
        "scope": "https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All "
        "offline_access",
    }
    poll_url, poll = presets.device_token_request(presets.microsoft(), "client-123", "DC-1")
    assert poll_url == "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
    assert poll == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "DC-1", "client_id": "client-123",
    }  # fmt: skip


def test_a_tenant_cannot_change_the_path() -> None:
    assert presets.microsoft("a/../../evil").token_url.startswith("https://login.microsoftonline.com/a%2F..%2F")


def test_google_uses_the_installed_app_flow_with_the_gmail_scope_and_offline_access() -> None:
    google = presets.google()
    assert google.flow == presets.LOOPBACK
    assert google.authorization_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert google.token_url == "https://oauth2.googleapis.com/token"
    assert google.scopes == ("https://mail.google.com/",)
    assert dict(google.authorization_params) == {"access_type": "offline", "prompt": "consent"}
    with pytest.raises(ValueError):
        presets.device_authorization_request(google, "client")


def test_a_custom_provider_runs_the_same_device_flow() -> None:
    custom = presets.custom(
        device_authorization_url="https://idp.example/device", token_url="https://idp.example/token", scopes=("mail",)
    )
    assert presets.device_authorization_request(custom, "c") == ("https://idp.example/device", {"client_id": "c", "scope": "mail"})
