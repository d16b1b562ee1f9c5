"""House rule 8: logs carry ids, never health data; the redaction processor is the safety net (docs/security.md, 12)."""

from __future__ import annotations

import json

import pytest

from maillage.kit.logging import REDACTED_KEYS, configure_logging, get_logger


@pytest.fixture
def json_logs():
    configure_logging("DEBUG", json=True)
    yield
    configure_logging("INFO", json=True)


class TestRedaction:
    @pytest.mark.parametrize("key", sorted(REDACTED_KEYS))
    def test_a_personal_key_is_written_redacted(self, json_logs, capsys, key):
        get_logger("t").info("event", **{key: "DUPONT Marie 1 85 05 78 006 084"}, request_id="r-1")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert line[key] == "[redacted]" and line["request_id"] == "r-1"
        assert "DUPONT" not in json.dumps(line)

    def test_the_key_is_matched_whatever_its_case(self, json_logs, capsys):
        get_logger("t").info("event", Question="douleur thoracique")
        assert "douleur" not in capsys.readouterr().err

    def test_ids_and_counts_are_kept(self, json_logs, capsys):
        get_logger("t").info("event", patient_id="p-1", count=3)
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["patient_id"], line["count"]) == ("p-1", 3)
