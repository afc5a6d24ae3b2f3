"""Partial updates from the API: the fields a caller set, refused when they would blank a required one."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from sqlmodel import SQLModel

from app.models import blank_required_field

__all__ = ["changes_to_apply"]


def changes_to_apply(body: SQLModel, model: type[SQLModel]) -> dict[str, Any]:
    """`body`'s set fields; 422 naming the field if one would empty a column that needs a value."""
    changes = body.model_dump(exclude_unset=True)
    if (blank := blank_required_field(model, changes)) is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{blank} cannot be empty")
    return changes
