"""Example dataset settings holding every field and question type, for tests, benchmarks and
the docs. (The demo itself, `synthloop demo`, is `synthloop.demo_loop`.)
"""

from __future__ import annotations

__all__ = ["SETTINGS"]

SETTINGS = """\
guidelines: |
  Label the customer's intent, then rate the reply.
fields:
  - {name: text, type: text}
  - {name: reply, type: markdown}
  - {name: conversation, type: chat, required: false}
questions:
  - {name: intent, type: label, labels: [refund, delivery, account, other]}
  - {name: topics, type: multi_label, labels: [billing, shipping, login], required: false}
  - {name: quality, type: rating, values: [1, 2, 3, 4, 5]}
  - {name: better, type: ranking, options: [reply, alternative], required: false}
  - {name: corrected_reply, type: text, prefill: reply, required: false}
  - {name: claims, type: span, field: reply, labels: [unsupported, wrong], required: false}
distribution: {overlap: 2}
"""
