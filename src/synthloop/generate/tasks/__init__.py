"""Generation tasks: a prompt template, an optional output model and a mapping to records.

See `base` for the contract; `library` holds the built-in tasks, registered by name.
"""

from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    get_task,
    load_template,
    register_task,
    task_names,
)

__all__ = [
    "Output",
    "SourceItem",
    "Task",
    "TaskOptions",
    "Unit",
    "get_task",
    "load_template",
    "register_task",
    "task_names",
]
