"""The audit: one static HTML page on a dataset's shape, its curation, and where humans and
machines disagree (`synthloop audit NAME --out report.html`)."""

from synthloop.audit.balance import DEFAULT_TERMS
from synthloop.audit.page import render_html
from synthloop.audit.report import AuditReport, audit, build_report

__all__ = ["DEFAULT_TERMS", "AuditReport", "audit", "build_report", "render_html"]
