"""Columns every editable record shares: UUID id, optimistic-lock version, aware UTC stamps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from sqlalchemy.orm import configure_mappers
from sqlmodel import Field, SQLModel

from backend import factories  # noqa: F401  (default factories inspected once)
from backend.clock import utcnow
from backend.ids import uuid7
from backend.types import UTCDateTime


class Record(SQLModel):
    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    version: int = Field(default=1, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )

    @classmethod
    def unsaved(cls, **values: Any) -> Self:
        """A new row holding what `cls(**values)` holds (the values as given, every other field
        its default), built as the ORM builds a row it loads: without an attribute event per
        field, which is most of what making a row costs. For rows written by a Core insert
        (`registry.service.insert_many`), never added to a session."""
        fields = cls.model_fields
        unknown = values.keys() - fields.keys()
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
        if not cls.__mapper__.configured:  # type: ignore[attr-defined]
            configure_mappers()  # as a constructor would: the class's attributes need it
        row: Self = cls._sa_class_manager.new_instance()  # type: ignore[attr-defined]
        state = row.__dict__
        for name, field in fields.items():
            if name in values:
                state[name] = values[name]
            elif field.is_required():
                raise TypeError(f"{cls.__name__} needs {name}")
            else:
                state[name] = field.get_default(call_default_factory=True)
        object.__setattr__(row, "__pydantic_fields_set__", set(values))
        object.__setattr__(row, "__pydantic_extra__", None)
        object.__setattr__(row, "__pydantic_private__", None)
        return row
