"""A Python client for the annotation API.

with synthloop.Client("http://127.0.0.1:8000", token) as client:
    support = client.dataset("support")
    while (record := support.next()) is not None:
        client.submit(record["id"], {"intent": "refund", "quality": 4})
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from synthloop.errors import SynthloopError

__all__ = ["ApiError", "Client", "DatasetClient"]


class ApiError(SynthloopError):
    """The server refused a request; `status` and `body` hold its answer (the API error shape)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        problems = [f"  - {p['where']}: {p['message']}" for p in error.get("problems", [])]
        super().__init__("\n".join([f"HTTP {status}: {error.get('message', body)}", *problems]))
        self.status, self.body = status, body
        self.type = str(error.get("type", "error"))


class Client:
    """Talks to one server as the user holding `token`."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def dataset(self, name: str) -> DatasetClient:
        return DatasetClient(self, name)

    def submit(
        self,
        record_id: int,
        values: dict[str, Any],
        status: str = "submitted",
        duration: float | None = None,
    ) -> dict[str, Any]:
        """Store the caller's response to a record; returns it as the server stored it."""
        body = {"values": values, "status": status, "duration": duration}
        reply: dict[str, Any] = self._request("POST", f"/api/records/{record_id}/responses", body)
        return reply

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            try:
                error = response.json()
            except ValueError:
                error = {"error": {"type": "error", "message": response.text, "problems": []}}
            raise ApiError(response.status_code, error)
        return None if response.status_code == 204 else response.json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class DatasetClient:
    def __init__(self, client: Client, name: str) -> None:
        self._client, self.name = client, name

    def next(self) -> dict[str, Any] | None:
        """The caller's next record, leased to them; None when nothing is left."""
        record: dict[str, Any] | None = self._client._request("GET", self._path("next"))
        return record

    def responses(self) -> list[dict[str, Any]]:
        """Every response the caller may read (annotators: only their own)."""
        found: list[dict[str, Any]] = self._client._request("GET", self._path("responses"))
        return found

    def _path(self, what: str) -> str:
        return f"/api/datasets/{quote(self.name, safe='')}/{what}"
