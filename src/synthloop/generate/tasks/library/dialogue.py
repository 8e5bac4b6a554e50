"""`dialogue`: multi-turn conversations from a persona and a goal, for chat SFT data.

The whole conversation comes from one request (one model writes both sides), which keeps it
coherent and costs one call. `parse` checks the shape the record promises, so a reply with
missing turns or two user messages in a row is re-asked, not stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from synthloop.generate.tasks.base import (
    Output,
    SourceItem,
    Task,
    TaskOptions,
    Unit,
    register_task,
)
from synthloop.generate.tasks.library._common import inline_schema, source_text, task_options

__all__ = ["Conversation", "Dialogue", "DialogueOptions", "Message"]


class DialogueOptions(TaskOptions):
    persona_field: str = Field("persona", description="the source field describing the user")
    goal_field: str = Field("goal", description="the source field holding what the user wants")
    turns: int = Field(4, ge=1, le=20, description="user-assistant exchanges per conversation")
    conversations_per_item: int = Field(
        1, ge=1, le=20, description="conversations per persona and goal"
    )


class Message(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class Conversation(BaseModel):
    messages: list[Message]


@register_task
class Dialogue(Task):
    name = "dialogue"
    template = "dialogue"
    options = DialogueOptions
    output = Conversation

    @property
    def _opts(self) -> DialogueOptions:
        return task_options(self, DialogueOptions)

    def schema(self) -> dict[str, Any]:
        """The conversation's schema with its length and, position by position, its roles."""
        schema = inline_schema(Conversation.model_json_schema())
        count = 2 * self._opts.turns
        messages = schema["properties"]["messages"]
        message = messages["items"]
        messages["minItems"] = messages["maxItems"] = count
        messages["prefixItems"] = [
            {**message, "properties": {**message["properties"], "role": {"const": role}}}
            for role in ("user", "assistant") * self._opts.turns
        ]
        return schema

    def parse(self, text: str) -> dict[str, Any]:
        value = Conversation.model_validate_json(text).model_dump()
        messages = value["messages"]
        count = 2 * self._opts.turns
        if len(messages) != count:
            raise ValueError(
                f"the conversation has {len(messages)} messages; it must have exactly {count} "
                f"({self._opts.turns} user messages, each followed by an assistant message)"
            )
        for i, message in enumerate(messages):
            expected = "user" if i % 2 == 0 else "assistant"
            if message["role"] != expected:
                raise ValueError(
                    f"message {i + 1} has role {message['role']!r} but must be {expected!r}: "
                    "roles alternate, starting with 'user'"
                )
        return value

    def units(self, items: Iterable[SourceItem]) -> Iterator[Unit]:
        opts = self._opts
        for item in items:
            persona = source_text(self, item, opts.persona_field, "persona_field")
            goal = source_text(self, item, opts.goal_field, "goal_field")
            for i in range(opts.conversations_per_item):
                request = self.request(seed_offset=i, persona=persona, goal=goal, turns=opts.turns)
                yield Unit(
                    key=self.key(item, [request], i),
                    requests=(request,),
                    fields={"persona": persona, "goal": goal},
                    parent=item.id,
                )

    def build(self, unit: Unit, outputs: Sequence[Output]) -> dict[str, Any]:
        return {"chat": (outputs[0].value or {})["messages"]}

    def settings(self) -> dict[str, Any]:
        return {
            "fields": [
                {"name": "chat", "type": "chat", "required": False},
                {"name": "persona", "type": "text"},
                {"name": "goal", "type": "text"},
            ],
            "questions": [
                {
                    "name": "quality",
                    "type": "rating",
                    "values": [1, 2, 3, 4, 5],
                    "description": "How realistic is the user, and how good are the assistant's "
                    "answers?",
                },
                {
                    "name": "goal_met",
                    "type": "label",
                    "labels": ["yes", "partly", "no"],
                    "description": "Does the conversation reach what the user wanted?",
                },
            ],
        }
