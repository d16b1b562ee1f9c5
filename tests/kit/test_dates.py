"""ISO 8601 dates and instants: numbers are refused instead of being read as Unix timestamps (issue 8)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter, ValidationError

from maillage.kit.dates import IsoDate, IsoDateTime


class TestIsoDate:
    @pytest.mark.parametrize("value", [0, "0", "20240101", 1.5, "1e9", " 12 ", True])
    def test_a_number_is_refused_rather_than_read_as_a_timestamp(self, value):
        """Found by Schemathesis: GET /api/patients?birth_date=0 answered 200, the date read as 1970-01-01."""
        with pytest.raises(ValidationError, match="ISO 8601"):
            TypeAdapter(IsoDate).validate_python(value)

    @pytest.mark.parametrize(("value", "expected"), [("2024-02-29", dt.date(2024, 2, 29)),
                                                     (dt.date(1950, 1, 1), dt.date(1950, 1, 1))])
    def test_iso_dates_and_date_objects_are_accepted(self, value, expected):
        assert TypeAdapter(IsoDate).validate_python(value) == expected

    def test_an_impossible_date_is_still_refused(self):
        with pytest.raises(ValidationError):
            TypeAdapter(IsoDate).validate_python("2023-02-29")

    def test_the_documented_schema_is_unchanged(self):
        assert TypeAdapter(IsoDate).json_schema() == {"type": "string", "format": "date"}


class TestIsoDateTime:
    @pytest.mark.parametrize("value", [0, "20240101", "1700000000", 1.5])
    def test_a_number_is_refused_rather_than_read_as_a_timestamp(self, value):
        with pytest.raises(ValidationError, match="ISO 8601"):
            TypeAdapter(IsoDateTime).validate_python(value)

    def test_an_iso_instant_is_accepted_with_its_offset(self):
        parsed = TypeAdapter(IsoDateTime).validate_python("2026-11-28T10:15:00+01:00")
        assert parsed == dt.datetime(2026, 11, 28, 9, 15, tzinfo=dt.UTC)

    def test_the_documented_schema_is_unchanged(self):
        assert TypeAdapter(IsoDateTime).json_schema() == {"type": "string", "format": "date-time"}


class Reading(BaseModel):
    measured_at: IsoDateTime


probe = FastAPI()


@probe.get("/search")
def search(birth_date: IsoDate | None = Query(None)) -> dict:
    return {"birth_date": str(birth_date)}


@probe.post("/readings")
def reading(body: Reading) -> dict:
    return {"at": body.measured_at.isoformat()}


class TestOverHttp:
    def test_a_query_parameter_and_a_body_field_refuse_numbers_with_a_422(self):
        client = TestClient(probe)
        assert client.get("/search", params={"birth_date": "0"}).status_code == 422
        assert client.get("/search", params={"birth_date": "1950-03-01"}).json() == {"birth_date": "1950-03-01"}
        assert client.post("/readings", json={"measured_at": 20240101}).status_code == 422
        assert client.post("/readings", json={"measured_at": "2026-11-28T09:00:00Z"}).status_code == 200
