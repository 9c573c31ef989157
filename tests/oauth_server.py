"""A real OAuth 2.0 authorization server on loopback, for the tests: the device
authorization endpoint (RFC 8628), the authorization endpoint of the browser login (it
signs `browser_user` in at once, or denies, and redirects with the code; PKCE S256
checked), the token endpoint (device-code, authorization-code and JWT-bearer grants, the
last verifying the assertion with a service account's public key; refresh grant with
rotating refresh tokens that detects reuse and then revokes the whole family, as
Microsoft and others do) and token introspection (RFC 7662). Access tokens live
`token_seconds` (real time). Started and stopped by the test that uses it."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class DeviceCode:
    user_code: str
    scope: str
    expires_at: float
    status: str = "pending"  # pending | approved | denied
    user: str = ""
    slow_down_once: bool = False


@dataclass
class OAuthServer:
    client_id: str = "seqctl-test-client"
    token_seconds: int = 3600
    interval: int = 1
    devices: dict[str, DeviceCode] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # token → family, used, user
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # token → exp, user, scope, family
    revoked_families: set[str] = field(default_factory=set)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""
    browser_user: str | None = "ada@acme.example"  # None: the person denies the browser login
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # authorization code → its request
    service_accounts: dict[str, RSAKey] = field(default_factory=dict)  # client_email → public key
    refuse_delegation: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what a person does in the browser ---------------------------------------------
    def approve(self, user_code: str, user: str) -> None:
        self._by_user_code(user_code).status, self._by_user_code(user_code).user = "approved", user

    def deny(self, user_code: str) -> None:
        self._by_user_code(user_code).status = "denied"

    def _by_user_code(self, user_code: str) -> DeviceCode:
        return next(d for d in self.devices.values() if d.user_code == user_code)

    # -- the endpoints ------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(length).decode()).items()}
        path = environ["PATH_INFO"]
        with self.lock:
            if path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
                self.requests.append((path, query))
                start_response("302 Found", [("Location", self._authorize(query))])
                return [b""]
            self.requests.append((path, form))
            status, body = {"/device": self._device, "/token": self._token, "/introspect": self._introspect}.get(
                path, lambda f: (404, {"error": "not_found"})
            )(form)
        start_response(f"{status} X", [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        return [json.dumps(body).encode()]

    def _authorize(self, query: dict[str, str]) -> str:
        """Where the browser goes next: back to the app's loopback redirect."""
        redirect = query.get("redirect_uri", "")
        assert redirect.startswith("http://127.0.0.1:"), redirect
        if self.browser_user is None:
            answer = {"error": "access_denied", "state": query.get("state", "")}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = query | {"user": self.browser_user}
            answer = {"code": code, "state": query.get("state", "")}
        return f"{redirect}?{urlencode(answer)}"

    def _device(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        code = secrets.token_urlsafe(16)
        self.devices[code] = DeviceCode(secrets.token_hex(4).upper(), form.get("scope", ""), time.time() + 600)
        return 200, {
            "device_code": code, "user_code": self.devices[code].user_code,
            "verification_uri": f"{self.url}/activate", "expires_in": 600, "interval": self.interval,
        }  # fmt: skip

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._jwt_bearer(form)
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:device_code":
            device = self.devices.get(form.get("device_code", ""))
            if device is None or device.expires_at < time.time():
                return 400, {"error": "expired_token"}
            if device.slow_down_once:
                device.slow_down_once = False
                return 400, {"error": "slow_down"}
            if device.status == "denied":
                return 400, {"error": "access_denied"}
            if device.status == "pending":
                return 400, {"error": "authorization_pending"}
            del self.devices[form["device_code"]]  # a device code is used once
            return 200, self._issue(secrets.token_hex(8), device.user, device.scope)
        if form.get("grant_type") == "authorization_code":
            asked = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if asked is None or asked.get("code_challenge") != challenge or asked.get("code_challenge_method") != "S256":
                return 400, {"error": "invalid_grant"}
            if asked.get("redirect_uri") != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
            return 200, self._issue(secrets.token_hex(8), asked["user"], asked.get("scope", ""))
        if form.get("grant_type") == "refresh_token":
            found = self.refresh_tokens.get(form.get("refresh_token", ""))
            if found is None or found["family"] in self.revoked_families:
                return 400, {"error": "invalid_grant"}
            if found["used"]:  # a rotated token replayed: the whole family is revoked
                self.revoked_families.add(found["family"])
                return 400, {"error": "invalid_grant", "error_description": "refresh token reused"}
            found["used"] = True
            return 200, self._issue(found["family"], found["user"], found["scope"])
        return 400, {"error": "unsupported_grant_type"}

    def _jwt_bearer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """RFC 7523: the assertion signed by a known service account, for this endpoint,
        not expired; the access token is the delegated user's (no refresh token)."""
        try:
            unverified = json.loads(base64.urlsafe_b64decode(form["assertion"].split(".")[1] + "=="))
            key = self.service_accounts[unverified["iss"]]
            claims = jwt.decode(form["assertion"], key, algorithms=["RS256"]).claims
        except (KeyError, IndexError, ValueError, JoseError):
            return 400, {"error": "invalid_grant", "error_description": "bad assertion"}
        if claims.get("aud") != f"{self.url}/token" or not claims["iat"] <= time.time() + 5 <= claims["exp"] + 5:
            return 400, {"error": "invalid_grant", "error_description": "audience or time"}
        if self.refuse_delegation:
            return 401, {"error": "unauthorized_client", "error_description": "delegation withdrawn"}
        issued = self._issue("service:" + claims["iss"], claims["sub"], claims.get("scope", ""))
        del issued["refresh_token"]
        return 200, issued

    def _issue(self, family: str, user: str, scope: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[access] = {"exp": time.time() + self.token_seconds, "user": user, "scope": scope,
                                      "family": family}  # fmt: skip
        self.refresh_tokens[refresh] = {"family": family, "used": False, "user": user, "scope": scope}
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                "expires_in": self.token_seconds, "scope": scope}  # fmt: skip

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        found = self.access_tokens.get(form.get("token", ""))
        if found is None or found["exp"] < time.time() or found["family"] in self.revoked_families:
            return 200, {"active": False}
        return 200, {"active": True, "username": found["user"], "scope": found["scope"], "exp": int(found["exp"])}


class _Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Running:
    """The server on a free loopback port, in a thread, until `stop`."""

    def __init__(self, server: OAuthServer) -> None:
        self.app = server
        self.httpd = make_server("127.0.0.1", 0, server, server_class=_Threaded, handler_class=_Quiet)
        server.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
