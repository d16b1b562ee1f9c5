"""One ``as_uuid``: text that is not a UUID names nothing (404), unless the caller says which error to raise."""

from __future__ import annotations

import uuid

import pytest

from maillage.exceptions import NotFound, ValidationFailed
from maillage.kit.ids import as_uuid

ID = uuid.UUID("6f1f8a2e-3c2b-4b53-9d55-2b7e8c1a0f11")


class TestAsUuid:
    def test_a_uuid_is_returned_as_it_is(self):
        assert as_uuid(ID) is ID

    @pytest.mark.parametrize("text", [str(ID), str(ID).upper(), ID.hex, "{" + str(ID) + "}"])
    def test_the_text_forms_python_reads_are_accepted(self, text):
        assert as_uuid(text) == ID

    @pytest.mark.parametrize("text", ["", "42", "not-a-uuid", str(ID)[:-1], str(ID) + "0"])
    def test_text_that_is_not_a_uuid_is_not_found(self, text):
        with pytest.raises(NotFound):
            as_uuid(text)

    def test_the_caller_may_name_the_error_to_raise(self):
        with pytest.raises(ValidationFailed, match="Choisissez"):
            as_uuid("nobody", invalid=ValidationFailed("Choisissez un spécialiste."))
