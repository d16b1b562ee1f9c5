"""Labelled enumerations: the value for code, the French label for people, declared together."""

from __future__ import annotations

import json
import pickle

import pytest
from pydantic import BaseModel

from maillage.kit.enums import LabelledEnum


class Colour(LabelledEnum):
    RED = "red", "Rouge"
    LIGHT_BLUE = "light_blue", "Bleu clair"

    @property
    def warm(self) -> bool:
        return self is Colour.RED


class Paint(BaseModel):
    colour: Colour


class TestLabelledEnum:
    def test_a_member_is_its_value(self):
        assert Colour.RED == "red" and Colour.RED.value == "red"
        assert str(Colour.RED) == "red" and f"{Colour.RED}" == "red"

    def test_a_member_carries_its_label(self):
        assert Colour.LIGHT_BLUE.label == "Bleu clair"

    def test_a_value_looks_its_member_up(self):
        assert Colour("light_blue") is Colour.LIGHT_BLUE and Colour("red").label == "Rouge"

    def test_an_unknown_value_is_refused(self):
        with pytest.raises(ValueError):
            Colour("Rouge")

    def test_the_label_of_a_value_or_the_value_itself_when_unknown(self):
        assert Colour.label_of("red") == "Rouge" and Colour.label_of("mauve") == "mauve"

    def test_labels_follow_the_declaration_order(self):
        assert Colour.labels() == {Colour.RED: "Rouge", Colour.LIGHT_BLUE: "Bleu clair"}
        assert list(Colour.labels()) == [Colour.RED, Colour.LIGHT_BLUE]

    def test_labels_are_found_by_the_plain_value(self):
        assert Colour.labels()["red"] == "Rouge"  # type: ignore[index]

    def test_members_keep_their_own_properties(self):
        assert Colour.RED.warm and not Colour.LIGHT_BLUE.warm

    def test_serialised_as_its_value(self):
        assert json.dumps({"c": Colour.RED}) == '{"c": "red"}'
        assert Paint(colour="light_blue").colour is Colour.LIGHT_BLUE  # type: ignore[arg-type]
        assert Paint(colour=Colour.RED).model_dump(mode="json") == {"colour": "red"}
        assert pickle.loads(pickle.dumps(Colour.RED)) is Colour.RED
