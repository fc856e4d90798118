import pytest

from music_genre.core.fileio import atomic_path, write_json


def test_a_killed_writers_leftovers_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "metrics.json"
    leftovers = [tmp_path / ".metrics.json.k2x_9qaz.tmp", tmp_path / ".metrics.json.00000000.tmp"]
    for leftover in leftovers:
        leftover.write_text("half written")
    # Not ours: another output's leftover, a user's file with a similar name, a directory.
    others = [
        tmp_path / ".other.json.k2x_9qaz.tmp",
        tmp_path / ".metrics.json.backup.tmp",
        tmp_path / "metrics.json.k2x_9qaz.tmp",
    ]
    for other in others:
        other.write_text("keep me")
    (tmp_path / ".metrics.json.dir_0000.tmp").mkdir()

    write_json({"accuracy": 1.0}, target)

    assert target.read_text() == '{\n  "accuracy": 1.0\n}\n'
    assert not any(leftover.exists() for leftover in leftovers)
    assert all(other.read_text() == "keep me" for other in others)
    assert (tmp_path / ".metrics.json.dir_0000.tmp").is_dir()


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"good"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.bin"]
