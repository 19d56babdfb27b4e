"""Intake takes only the exam's modules, and refuses links, escapes and bombs with a clear line."""
import os
import zipfile

import pytest

from autograder import intake

MODULES = ["mlp", "softmax", "autodiff"]


def take(path, tmp_path):
    return intake.take(path, tmp_path / "scratch", MODULES)


def test_a_folder_gives_only_its_exam_modules(tmp_path):
    sub = tmp_path / "alice"
    sub.mkdir()
    for name in ["mlp.py", "softmax.py", "conftest.py", "numpy.py", "sitecustomize.py", "pytest.ini"]:
        (sub / name).write_text("x = 1\n")
    result = take(sub, tmp_path)
    assert result.id == "alice" and result.modules == ["mlp", "softmax"]
    assert sorted(p.name for p in result.workdir.iterdir()) == ["mlp.py", "softmax.py"]
    assert any("ignored" in p and "conftest.py" in p and "numpy.py" in p for p in result.problems)
    assert "missing: autodiff.py" in result.problems


def test_modules_one_folder_down_are_found(tmp_path):
    sub = tmp_path / "bob"
    (sub / "exam").mkdir(parents=True)
    (sub / "exam" / "mlp.py").write_text("x = 1\n")
    assert take(sub, tmp_path).modules == ["mlp"]


def test_links_are_refused(tmp_path):
    sub = tmp_path / "carol"
    sub.mkdir()
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET = 1\n")
    os.symlink(secret, sub / "mlp.py")
    result = take(sub, tmp_path)
    assert result.modules == [] and any("link" in p for p in result.problems)


def make_zip(path, entries, symlink=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "/etc/passwd")
    return path


def test_a_zip_gives_its_modules(tmp_path):
    archive = make_zip(tmp_path / "dave.zip", {"dave/mlp.py": "x = 1\n", "dave/notes.txt": "hi"})
    result = take(archive, tmp_path)
    assert result.id == "dave" and result.modules == ["mlp"]


@pytest.mark.parametrize("entries, symlink, expected", [
    ({"../softmax.py": "x = 1\n"}, None, "escapes"),
    ({"/tmp/softmax.py": "x = 1\n"}, None, "absolute path"),
    ({}, "softmax.py", "link"),
    ({"softmax.py": "#" * 900_000}, None, "compression ratio"),
    ({"softmax.py": "#" * 5_000_000}, None, "over the limit"),
])
def test_hostile_archives_are_refused_entry_by_entry(tmp_path, entries, symlink, expected):
    archive = make_zip(tmp_path / "eve.zip", {"mlp.py": "x = 1\n", **entries}, symlink)
    result = take(archive, tmp_path)
    assert result.modules == ["mlp"]
    assert any(expected in p for p in result.problems), result.problems
    assert not (tmp_path / "softmax.py").exists() and not os.path.exists("/tmp/softmax.py")


def test_unreadable_or_missing_submissions_are_problems_not_crashes(tmp_path):
    broken = tmp_path / "frank.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    assert take(broken, tmp_path).modules == []
    missing = take(tmp_path / "nobody", tmp_path)
    assert missing.modules == [] and "no such file" in missing.problems[0]


@pytest.mark.parametrize("source, found", [
    ("import torch\n", "import torch (line 1)"),
    ("import numpy as np\ndef f():\n    from torch.nn import functional as F\n", "from torch.nn"),
    ('"""torch.optim.SGD(momentum) step: buf = mu * buf + g"""\nimport numpy as np\n', ""),
    ("x = 'torch.nn.functional.linear'\n# import torch\n", ""),
    ("import numpy as np\nif __name__ == '__main__':\n    import torch\n", ""),
    ("import numpy as np\n", ""),
])
def test_torch_imports_are_read_from_import_statements_only(source, found):
    """Docstrings, strings, comments and the __main__ block never count (issue 11)."""
    where = intake.torch_imports(source.encode())
    assert where.startswith(found) if found else where == ""


def test_a_project_folder_zipped_whole_is_graded_from_its_modules(tmp_path):
    entries = {f"project/.git/objects/{i:02x}/{i:038x}": "blob" for i in range(2500)}
    entries.update({"project/mlp.py": "x = 1\n", "project/__pycache__/mlp.cpython-311.pyc": "x",
                    "project/notes.ipynb": "{}", "project/data/train.csv": "1,2\n"})
    result = take(make_zip(tmp_path / "grace.zip", entries), tmp_path)
    assert result.modules == ["mlp"]


def test_an_archive_too_large_is_refused_from_its_end_record_before_parsing(tmp_path):
    archive = make_zip(tmp_path / "heidi.zip", {"mlp.py": "x = 1\n"})
    data = bytearray(archive.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 12:end + 16] = (200 * 1024 ** 2).to_bytes(4, "little")   # declares 200 MB
    archive.write_bytes(bytes(data))
    assert intake.declared_size(archive) == (1, 200 * 1024 ** 2)
    result = take(archive, tmp_path)
    assert result.modules == [] and "zip only your module files" in result.problems[0]


def test_hard_links_are_refused(tmp_path):
    """A hard link would let a grader running as root copy a file its author cannot read."""
    sub = tmp_path / "grace"
    sub.mkdir()
    (sub / "mlp.py").write_text("x = 1\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET = 1\n")
    os.link(secret, sub / "softmax.py")
    result = take(sub, tmp_path)
    assert result.modules == ["mlp"] and "softmax.py: a hard link; refused" in result.problems


def test_a_bomb_entry_costs_that_entry_only(tmp_path):
    archive = tmp_path / "heidi.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mlp.py", "x = 1\n")
        for name in ("softmax.py", "padding.bin"):
            with z.open(name, "w") as f:
                for _ in range(100):
                    f.write(bytes(1 << 20))   # 100 MB of zeros each
    result = take(archive, tmp_path)
    assert result.modules == ["mlp"]
    assert any(p.startswith("softmax.py: ") and "refused" in p for p in result.problems)


def test_problem_lines_stay_few_short_and_printable(tmp_path):
    """An archive may name 2000 entries with 64 KB names, escape sequences and markup."""
    names = {f"/{'x' * 3000}/{i}/mlp.py": "x = 1\n" for i in range(100)}
    names["\x1b[2J[/]" + "y" * 5000 + ".py"] = ""
    result = take(make_zip(tmp_path / "ivan.zip", {"mlp.py": "x = 1\n", **names}), tmp_path)
    assert result.modules == ["mlp"] and len(result.problems) <= intake.MAX_PROBLEMS + 2
    assert all(len(p) < 400 and "\x1b" not in p for p in result.problems)
    assert result.problems[0].endswith("mlp.py: absolute path in archive; refused")
