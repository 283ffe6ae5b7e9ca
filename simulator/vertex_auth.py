"""Google service-account auth, simulated end to end.

At startup the simulator makes its own RSA key pair and hands out a
service-account key file for it (`GET /_sim/vertex/service-account.json`).
Clients such as google-auth sign a JWT with that key and exchange it at the
simulator's `POST /token` (OAuth2 JWT-bearer grant) for an access token, which
every Vertex call must then carry as `Authorization: Bearer ...`.  Signatures
are really verified, so a client that signs with another key is refused.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlparse

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT_ID = "sim-project"
CLIENT_EMAIL = "simulator@sim-project.iam.gserviceaccount.com"
TOKEN_LIFETIME_S = 3600
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class VertexAuth:
    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._key.public_key()
        self.private_key_id = secrets.token_hex(20)
        self._tokens: dict[str, float] = {}  # access token -> expiry (epoch seconds)

    def service_account(self, base_url: str) -> dict[str, Any]:
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": self.private_key_id,
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000000",
            "auth_uri": f"{base_url}/auth",
            "token_uri": f"{base_url}/token",
            "auth_provider_x509_cert_url": f"{base_url}/certs",
            "client_x509_cert_url": f"{base_url}/certs/{CLIENT_EMAIL}",
            "universe_domain": "googleapis.com",
        }

    def issue_token(self) -> str:
        now = time.time()
        # Drop expired tokens so a long-running simulator does not grow without bound.
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        token = "ya29.sim-" + secrets.token_urlsafe(32)
        self._tokens[token] = now + TOKEN_LIFETIME_S
        return token

    def is_valid_bearer(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        expiry = self._tokens.get(authorization[len("Bearer "):].strip())
        return expiry is not None and expiry > time.time()

    def verify_assertion(self, assertion: str) -> str | None:
        """Check a JWT-bearer assertion; return None if valid, else the reason."""
        try:
            claims = jwt.decode(
                assertion,
                self._public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp", "iat", "aud", "iss"]},
                leeway=30,
            )
        except jwt.InvalidSignatureError:
            return "Invalid JWT Signature."
        except jwt.ExpiredSignatureError:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        except jwt.PyJWTError as exc:
            return f"Invalid JWT: {exc}"
        # The audience is our own token endpoint; compare the path only, since a
        # client may reach us as 127.0.0.1 or localhost.
        if urlparse(str(claims.get("aud"))).path != "/token":
            return "Invalid JWT: Failed audience check."
        if claims.get("iss") != CLIENT_EMAIL:
            return "Invalid JWT: unknown issuer."
        return None

    async def handle_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return web.json_response(
                {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}, status=400
            )
        problem = self.verify_assertion(str(form.get("assertion", "")))
        if problem:
            return web.json_response({"error": "invalid_grant", "error_description": problem}, status=400)
        return web.json_response(
            {"access_token": self.issue_token(), "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}
        )
