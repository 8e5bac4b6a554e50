"""Typed exceptions. Library code raises these; only the CLI and HTTP layers translate them.

Every message names the value, the rule and the fix, so a user can act on it without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DatasetExists",
    "DatasetNotFound",
    "ImportFailed",
    "InvalidFile",
    "InvalidResponse",
    "NotAMember",
    "Problem",
    "ProblemList",
    "RecordNotFound",
    "SettingsError",
    "StoreError",
    "SynthloopError",
    "UnknownUsers",
    "UserExists",
]


class SynthloopError(Exception):
    """Base class for every error synthloop raises on purpose (a user error, not a bug)."""


class StoreError(SynthloopError):
    """The store cannot be opened or used as asked."""


class DatasetNotFound(SynthloopError):
    def __init__(self, name: str, known: list[str]) -> None:
        hint = f"known datasets: {', '.join(known)}" if known else "the store has no datasets yet"
        super().__init__(
            f"dataset {name!r} does not exist ({hint}); "
            f"create it with `synthloop datasets create {name} --settings FILE`"
        )
        self.name = name


class DatasetExists(SynthloopError):
    def __init__(self, name: str) -> None:
        super().__init__(f"dataset {name!r} already exists; pick another name or import into it")
        self.name = name


class RecordNotFound(SynthloopError):
    def __init__(self, record_id: int) -> None:
        super().__init__(
            f"record {record_id} does not exist; use the `id` that the record came with "
            "(the store's id, not its external id)"
        )
        self.record_id = record_id


class UserExists(SynthloopError):
    def __init__(self, username: str) -> None:
        super().__init__(
            f"user {username!r} already exists; pick another name, or give them a new API token "
            f"with `synthloop users token {username}`"
        )
        self.username = username


class UnknownUsers(SynthloopError):
    def __init__(self, usernames: list[str]) -> None:
        names = ", ".join(repr(u) for u in usernames)
        super().__init__(
            f"no user named {names} in this store; create each with "
            "`synthloop users add NAME --role annotator|reviewer|owner`"
        )
        self.usernames = usernames


class NotAMember(SynthloopError):
    """A user asked for work on a dataset they are not assigned to (owners need no assignment)."""

    def __init__(self, username: str, dataset: str) -> None:
        super().__init__(
            f"user {username!r} is not a member of dataset {dataset!r}, so it has no work for "
            f"them; an owner can assign them with `synthloop datasets assign {dataset} {username}`"
        )
        self.username, self.dataset = username, dataset


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where it is, and what rule it breaks."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class ProblemList(SynthloopError):
    """An error carrying every problem found at once, shown capped with a count of the rest."""

    shown = 20
    headline = "invalid input"

    def __init__(self, problems: list[Problem], total: int | None = None, source: str = "") -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [
            f"{self.headline}{f' in {self.source}' if self.source else ''}: "
            f"{self.total} problem{'s' if self.total != 1 else ''}"
        ]
        lines += [f"  - {p}" for p in self.problems[: self.shown]]
        hidden = self.total - min(len(self.problems), self.shown)
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        lines.extend(self._footer())
        return "\n".join(lines)

    def _footer(self) -> list[str]:
        return []


class SettingsError(ProblemList):
    """Dataset settings that do not validate; lists every problem with its path."""

    headline = "invalid dataset settings"


class InvalidFile(ProblemList):
    """An input file (crowd answers, gold labels) that cannot be read as asked."""

    headline = "invalid file"


class ImportFailed(ProblemList):
    """An import that found invalid rows; nothing was written."""

    headline = "import failed"

    def _footer(self) -> list[str]:
        return ["nothing was imported: fix the rows above and run the import again"]


class InvalidResponse(ProblemList):
    """An annotator's response that does not answer the dataset's questions; nothing was stored."""

    headline = "invalid response"

    def _footer(self) -> list[str]:
        return ["nothing was saved: fix the answers above and submit again"]
