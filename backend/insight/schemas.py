"""Request bodies of the insight API."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class TaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    district: Annotated[str, Field(min_length=1, max_length=16)]
    officer_id: uuid.UUID = Field(description="a field officer granted this district")
    top: Annotated[int, Field(ge=1, le=50)] = 5
    days: Annotated[int, Field(ge=7, le=3650)] = 90
    unvisited_days: Annotated[int, Field(ge=1, le=3650)] = 90
