"""Pagination for every list and search: bounded page sizes, no unbounded scans from a query string."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
MAX_OFFSET = 100_000

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int = DEFAULT_PAGE_SIZE
    offset: int = 0


async def page_params(  # async: no I/O, so no hop to a worker thread
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Nombre d'éléments par page (200 au plus)")]
    = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Décalage depuis le début")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    has_more: bool
