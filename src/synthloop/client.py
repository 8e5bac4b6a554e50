"""A Python client for the annotation API: one method per endpoint, errors as ApiError.

    with synthloop.Client("http://127.0.0.1:8000", token) as client:
        support = client.dataset("support")
        support.add([{"id": "r1", "text": "Where is my order?", "reply": "On its way."}])
        while (record := support.next()) is not None:
            client.submit(record["id"], {"intent": "delivery", "quality": 4})
        support.responses()                       # annotators: only their own
        support.export("support.parquet")         # owners and reviewers: everything

A refused request raises ApiError, carrying the server's JSON error (type, message, and every
problem, e.g. each invalid row of an import).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from synthloop.errors import SynthloopError
from synthloop.records import Record
from synthloop.settings import Settings

__all__ = ["ApiError", "Client", "DatasetClient"]


class ApiError(SynthloopError):
    """The server refused a request; `status` and `body` hold its answer (the API error shape),
    `type` the error's kind and `problems` its [{"where", "message"}] list."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.status, self.body = status, body
        self.type = str(error.get("type", "error"))
        self.problems: list[dict[str, str]] = list(error.get("problems", []))
        lines = [f"  - {p['where']}: {p['message']}" for p in self.problems]
        super().__init__("\n".join([f"HTTP {status}: {error.get('message', body)}", *lines]))


class Client:
    """Talks to one server as the user holding `token`."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def dataset(self, name: str) -> DatasetClient:
        """A handle on one dataset (no request is made until you use it)."""
        return DatasetClient(self, name)

    def datasets(self) -> list[dict[str, Any]]:
        """The datasets the caller works on (owners: all): name, records, by_status."""
        found: list[dict[str, Any]] = self._request("GET", "/api/datasets")
        return found

    def create_dataset(self, name: str, settings: Settings | dict[str, Any]) -> DatasetClient:
        """Create an empty dataset (owners only); settings as a Settings or its mapping."""
        if isinstance(settings, Settings):
            settings = settings.to_dict()
        self._request("POST", "/api/datasets", json={"name": name, "settings": settings})
        return self.dataset(name)

    def submit(
        self,
        record_id: int,
        values: dict[str, Any],
        status: str = "submitted",
        duration: float | None = None,
    ) -> dict[str, Any]:
        """Store the caller's response to a record (its store `id`, as `next` gave it); returns
        the response as the server stored it. Status "draft" keeps the lease, "discarded" skips
        the record for good."""
        body = {"values": values, "status": status, "duration": duration}
        path = f"/api/records/{record_id}/responses"
        reply: dict[str, Any] = self._request("POST", path, json=body)
        return reply

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        _raise_for_error(response)
        return None if response.status_code == 204 else response.json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class DatasetClient:
    """One dataset on the server: add, annotate, read back, export."""

    def __init__(self, client: Client, name: str) -> None:
        self._client, self.name = client, name

    def info(self) -> dict[str, Any]:
        """The dataset's settings and its record counts by status."""
        found: dict[str, Any] = self._client._request("GET", self._path())
        return found

    def add(self, records: Iterable[Record | dict[str, Any]]) -> dict[str, int]:
        """Add records (owners only), all or nothing, as `synthloop import` would: returns the
        import report (rows, added, existing, repeated). They are streamed as JSONL, so an
        invalid one is named `line N` for the N-th record; nothing is added then."""
        lines = (orjson.dumps(r.to_dict() if isinstance(r, Record) else r) + b"\n" for r in records)
        headers = {"Content-Type": "application/x-ndjson"}
        report: dict[str, int] = self._client._request(
            "POST", self._path("records"), content=lines, headers=headers
        )
        return report

    def queue(self, status: str = "pending", limit: int | None = None) -> int:
        """Queue records with `status` for annotation (owners only), the `limit`
        highest-priority ones if given; returns how many were queued."""
        body = {"status": status, "limit": limit}
        reply: dict[str, int] = self._client._request("POST", self._path("queue"), json=body)
        return reply["queued"]

    def next(self) -> dict[str, Any] | None:
        """The caller's next record, leased to them; None when nothing is left."""
        record: dict[str, Any] | None = self._client._request("GET", self._path("next"))
        return record

    def responses(self) -> list[dict[str, Any]]:
        """Every response the caller may read (annotators: only their own)."""
        found: list[dict[str, Any]] = self._client._request("GET", self._path("responses"))
        return found

    def records(
        self,
        status: str | list[str] | None = None,
        source: str | list[str] | None = None,
        page_size: int = 500,
    ) -> Iterator[dict[str, Any]]:
        """Every record with everything it holds (owners and reviewers), fetched a page at a
        time as you iterate; `id` is the store id, `external_id` the row's own."""
        params: dict[str, Any] = {"limit": page_size, "status": status, "source": source}
        after: int | None = 0
        while after is not None:
            params["after"] = after
            page = self._client._request("GET", self._path("records"), params=_given(params))
            yield from page["records"]
            after = page["next_after"]

    def export(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        status: str | None = None,
        source: str | None = None,
    ) -> int:
        """Download the export (owners and reviewers) to `path`, JSONL or Parquet (default: from
        the suffix, .parquet/.pq or else JSONL); returns the number of records. The file is
        written beside `path` and renamed into place, so a failed download leaves no half file."""
        path = Path(path)
        format = format or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "jsonl")
        params = _given({"format": format, "status": status, "source": source})
        partial = path.with_name(f".{path.name}.partial")
        try:
            with self._client._http.stream(
                "GET", self._path("records/export"), params=params
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for_error(response)
                with partial.open("wb") as f:
                    for chunk in response.iter_bytes():
                        f.write(chunk)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return int(response.headers["X-Record-Count"])

    def _path(self, what: str = "") -> str:
        base = f"/api/datasets/{quote(self.name, safe='')}"
        return f"{base}/{what}" if what else base


def _given(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()
    except ValueError:
        error = {"error": {"type": "error", "message": response.text, "problems": []}}
    raise ApiError(response.status_code, error)
