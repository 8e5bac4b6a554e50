"""The annotate page (being built)."""

from fastapi import APIRouter

router = APIRouter()
