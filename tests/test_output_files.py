"""The files dlexam writes: safe names, whole files, and the mode the user's umask gives."""
import os
import stat

import pytest

from autograder.output_files import safe_name, write_atomic


@pytest.fixture
def umask():
    """set(mask) sets the process umask for one test, restored afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mask, mode):
    umask(mask)
    write_atomic(tmp_path / "result.json", "{}")
    chart = tmp_path / "chart.png"
    chart.write_bytes(b"\x89PNG")   # how matplotlib creates its files
    assert stat.S_IMODE((tmp_path / "result.json").stat().st_mode) == mode
    assert stat.S_IMODE(chart.stat().st_mode) == mode


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "deep" / "report.md"
    write_atomic(path, "first")
    write_atomic(path, "second ✓")
    assert path.read_text(encoding="utf-8") == "second ✓"
    assert os.listdir(path.parent) == ["report.md"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "report.md"
    write_atomic(path, "old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "\udc80")   # a lone surrogate cannot be written as UTF-8
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["report.md"]


def test_safe_names_keep_letters_and_digits_and_replace_the_rest():
    assert safe_name("alice.smith@uni-x_2") == "alice.smith@uni-x_2"
    assert safe_name("../../etc/passwd") == ".._.._etc_passwd"
    assert safe_name("=HYPERLINK(x)") == "_HYPERLINK_x_"
    assert safe_name("") == "_"
