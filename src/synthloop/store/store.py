"""The store: one database (SQLite file or PostgreSQL) holding every dataset."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Row, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from synthloop.errors import DatasetExists, DatasetNotFound, RecordNotFound, SynthloopError
from synthloop.settings import Settings
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset
from synthloop.store.engine import connect, migrate, reader
from synthloop.store.users import set_role

__all__ = ["Store", "open_store"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")


class Store:
    """Every dataset, its records and their answers, in one database.

    Opening a store brings its schema up to date, so a new file or an empty database just works.
    """

    def __init__(self, db: str | os.PathLike[str] | None = None) -> None:
        self.engine = connect(db)
        migrate(self.engine)
        # Parsed settings by dataset id, with the stored mapping they came from: the server looks
        # a dataset up on every request, and validating its settings cost more than the lookup.
        self._parsed: dict[int, tuple[Any, Settings]] = {}

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def create_dataset(
        self, name: str, settings: Settings | dict[str, Any] | str | Path
    ) -> Dataset:
        """Create an empty dataset; settings may be a Settings, a mapping, or a YAML file path."""
        if not _NAME.match(name):
            raise SynthloopError(
                f"dataset name {name!r} is not valid: use 1-200 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        settings = _as_settings(settings)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t.datasets).values(name=name, settings=settings.to_dict()))
        except IntegrityError:
            raise DatasetExists(name) from None
        return self.dataset(name)

    def dataset(self, name: str) -> Dataset:
        with reader(self.engine) as conn:
            row = conn.execute(_BY_NAME, {"name": name}).first()
        if row is None:
            raise DatasetNotFound(name, [d.name for d in self.datasets()])
        return self._dataset(row)

    def dataset_of_record(self, record_id: int) -> Dataset:
        """The dataset holding the record with this store id; RecordNotFound when none does."""
        with reader(self.engine) as conn:
            row = conn.execute(_OF_RECORD, {"record_id": record_id}).first()
        if row is None:
            raise RecordNotFound(record_id)
        return self._dataset(row)

    def datasets(self) -> list[Dataset]:
        query = select(*_COLUMNS).order_by(t.datasets.c.name)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._dataset(row) for row in rows]

    def _dataset(self, row: Row[Any, Any, Any]) -> Dataset:
        # Compared with what was parsed before rather than trusted by id alone, so a dataset
        # made again under a reused id never gets the old settings.
        raw, settings = self._parsed.get(row.id, (None, None))
        if settings is None or raw != row.settings:
            settings = Settings.parse(row.settings)
            self._parsed[row.id] = (row.settings, settings)
        return Dataset(self.engine, row.id, row.name, settings)

    def add_user(self, name: str, role: str = "annotator") -> None:
        """Create a user with `role` ("annotator", "reviewer" or "owner"), or change their role."""
        set_role(self.engine, name, role)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.url}>"


_COLUMNS = (t.datasets.c.id, t.datasets.c.name, t.datasets.c.settings)
_BY_NAME = select(*_COLUMNS).where(t.datasets.c.name == bindparam("name"))
_OF_RECORD = (
    select(*_COLUMNS)
    .join(t.records, t.records.c.dataset_id == t.datasets.c.id)
    .where(t.records.c.id == bindparam("record_id"))
)


def open_store(db: str | os.PathLike[str] | None = None) -> Store:
    """Open (creating or upgrading when needed) the store at a SQLite path or database URL.

    With no argument: $SYNTHLOOP_DB, else ./synthloop.db.
    """
    return Store(db)


def _as_settings(settings: Settings | dict[str, Any] | str | Path) -> Settings:
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, dict):
        return Settings.parse(settings)
    return Settings.load(settings)
