"""synthloop: training data from synthetic generation and human annotation, in a measured loop.

import synthloop
store = synthloop.open("synthloop.db")          # or a postgresql+psycopg:// URL
ds = store.create_dataset("support", "settings.yaml")
ds.import_file("records.jsonl")
ds.count(by="status")
"""

from synthloop.client import Client
from synthloop.errors import (
    DatasetExists,
    DatasetNotFound,
    ImportFailed,
    Problem,
    SettingsError,
    StoreError,
    SynthloopError,
)
from synthloop.records import STATUSES, Record, Response, Suggestion
from synthloop.settings import Settings
from synthloop.store.dataset import Dataset
from synthloop.store.ingest import ImportReport
from synthloop.store.store import Store
from synthloop.store.store import open_store as open

__version__ = "0.1.0"

__all__ = [
    "STATUSES",
    "Client",
    "Dataset",
    "DatasetExists",
    "DatasetNotFound",
    "ImportFailed",
    "ImportReport",
    "Problem",
    "Record",
    "Response",
    "Settings",
    "SettingsError",
    "Store",
    "StoreError",
    "Suggestion",
    "SynthloopError",
    "__version__",
    "open",
]
