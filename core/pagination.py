"""Paging for API lists, with bounds a database can always honour."""

from typing import Annotated

from ninja import Field, Path, Schema
from ninja.pagination import LimitOffsetPagination

MAX_LIMIT = 500
# Beyond this, offset paging is the wrong tool; filters narrow the list instead.
MAX_OFFSET = 1_000_000


class Paging(LimitOffsetPagination):
    class Input(Schema):
        limit: int = Field(50, ge=1, le=MAX_LIMIT, description="Items per page.")
        offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Items to skip.")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_limit=MAX_LIMIT, **kwargs)


# A database id in a URL: positive and within a 64-bit integer, so no database chokes on it.
PathId = Annotated[int, Path(..., ge=1, le=2**63 - 1)]
