"""The store: one database (SQLite file or PostgreSQL) holding every dataset."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from synthloop.errors import DatasetExists, DatasetNotFound, RecordNotFound, SynthloopError
from synthloop.settings import Settings
from synthloop.store import tables as t
from synthloop.store.dataset import Dataset
from synthloop.store.engine import connect, migrate
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
        query = select(t.datasets.c.id, t.datasets.c.settings).where(t.datasets.c.name == name)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise DatasetNotFound(name, [d.name for d in self.datasets()])
        return Dataset(self.engine, row.id, name, Settings.parse(row.settings))

    def dataset_of_record(self, record_id: int) -> Dataset:
        """The dataset holding the record with this store id; RecordNotFound when none does."""
        query = (
            select(t.datasets.c.id, t.datasets.c.name, t.datasets.c.settings)
            .join(t.records, t.records.c.dataset_id == t.datasets.c.id)
            .where(t.records.c.id == record_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise RecordNotFound(record_id)
        return Dataset(self.engine, row.id, row.name, Settings.parse(row.settings))

    def datasets(self) -> list[Dataset]:
        query = select(t.datasets.c.id, t.datasets.c.name, t.datasets.c.settings).order_by(
            t.datasets.c.name
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Dataset(self.engine, r.id, r.name, Settings.parse(r.settings)) for r in rows]

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
