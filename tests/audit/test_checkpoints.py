"""The real checkpoint store: an append-only JSON Lines file outside the database, fsynced, numbered under a lock."""

from __future__ import annotations

import json
import threading

import pytest

from maillage import config
from maillage.audit import checkpoints
from maillage.audit.checkpoints import CheckpointRace, FileCheckpointStore


class TestFileCheckpointStore:
    def test_appends_one_line_per_record_in_a_private_file_and_reads_them_back(self, tmp_path):
        store = FileCheckpointStore(tmp_path / "cp")
        store.append({"n": 1, "seq": 3}, expected_count=0)
        store.append({"n": 2, "seq": 5}, expected_count=1)
        assert store.read() == [{"n": 1, "seq": 3}, {"n": 2, "seq": 5}]
        lines = (tmp_path / "cp" / "checkpoints.jsonl").read_text(encoding="ascii").splitlines()
        assert [json.loads(line)["n"] for line in lines] == [1, 2]
        assert oct((tmp_path / "cp").stat().st_mode & 0o777) == "0o700"
        assert oct((tmp_path / "cp" / "checkpoints.jsonl").stat().st_mode & 0o777) == "0o600"

    def test_never_rewrites_what_is_there(self, tmp_path):
        store = FileCheckpointStore(tmp_path)
        store.append({"n": 1}, expected_count=0)
        before = store.path.read_bytes()
        store.append({"n": 2}, expected_count=1)
        assert store.path.read_bytes().startswith(before)

    def test_an_append_that_lost_the_race_is_refused_and_writes_nothing(self, tmp_path):
        store = FileCheckpointStore(tmp_path)
        store.append({"n": 1}, expected_count=0)
        with pytest.raises(CheckpointRace):
            store.append({"n": 1}, expected_count=0)
        assert store.read() == [{"n": 1}]

    def test_concurrent_appenders_never_number_two_records_alike(self, tmp_path):
        store = FileCheckpointStore(tmp_path)
        won: list[int] = []

        def append(n: int) -> None:
            for _ in range(50):
                count = len(store.read())
                try:
                    store.append({"n": count + 1, "by": n}, expected_count=count)
                    won.append(n)
                    return
                except CheckpointRace:
                    continue

        workers = [threading.Thread(target=append, args=(n,)) for n in range(4)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(30)
        assert [r["n"] for r in store.read()] == [1, 2, 3, 4] and sorted(won) == [0, 1, 2, 3]

    def test_a_damaged_line_comes_back_as_unreadable_for_the_register_check(self, tmp_path):
        store = FileCheckpointStore(tmp_path)
        store.append({"n": 1}, expected_count=0)
        with open(store.path, "ab") as handle:
            handle.write(b'{"n": 2, "se\n')
        assert store.read()[1] == {"unreadable": '{"n": 2, "se'}

    def test_a_missing_file_is_an_empty_register(self, tmp_path):
        assert FileCheckpointStore(tmp_path / "nothing").read() == []

    def test_an_unwritable_place_is_a_clear_error(self, tmp_path):
        blocked = tmp_path / "blocked"
        blocked.write_text("a file, not a folder")
        with pytest.raises(checkpoints.CheckpointStoreError, match="ne peut pas être créé"):
            FileCheckpointStore(blocked / "cp").append({"n": 1}, expected_count=0)


class TestGetCheckpointStore:
    def test_defaults_to_a_folder_of_the_var_dir_apart_from_the_database_and_is_configurable(self, tmp_path,
                                                                                            monkeypatch):
        monkeypatch.setattr(checkpoints._store, "_override", None)  # the suite puts a register in memory
        monkeypatch.setenv("MAILLAGE_VAR_DIR", str(tmp_path))
        config.get_settings.cache_clear()
        try:
            store = checkpoints.get_checkpoint_store()
            assert isinstance(store, FileCheckpointStore) and store.directory == tmp_path / "audit-checkpoints"
            monkeypatch.setenv("MAILLAGE_AUDIT_CHECKPOINT_DIR", str(tmp_path / "elsewhere"))
            config.get_settings.cache_clear()
            store = checkpoints.get_checkpoint_store()
            assert isinstance(store, FileCheckpointStore) and store.directory == tmp_path / "elsewhere"
        finally:
            config.get_settings.cache_clear()
