"""Response headers that make a page of untrusted text hard to abuse.

The Content-Security-Policy allows scripts, styles and requests to our own origin only, and no
inline script: even text that slipped past escaping could not run or call out. /docs and /redoc
(FastAPI's OpenAPI pages load their assets from a CDN) are left without it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SecurityHeaders"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
_NO_CSP = ("/docs", "/redoc")
# Built once: the headers every response gets, with and without the policy.
_WITH_CSP = [*_HEADERS, (b"content-security-policy", CSP.encode())]


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task switch, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _HEADERS if scope["path"].startswith(_NO_CSP) else _WITH_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
