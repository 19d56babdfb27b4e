"""Student code runs only in sandboxed children; whatever it does costs only that call."""
import os

import numpy as np
import pytest

from autograder.isolation.sandbox import StudentCodeError

MODULE = """
import numpy as np, os, sys, time

def linear(x, W, b):
    return x @ W.T + b

def boom(x):
    raise ValueError("boom " + str(x))

def hang():
    while True:
        pass

def leave(code):
    os._exit(code)

def leave_politely():
    sys.exit(0)

def subclass():
    class Sub(np.ndarray):
        pass
    return np.zeros(2).view(Sub)

def where_am_i():
    return [os.getpid(), os.getcwd()]

counter = []
def count():
    counter.append(1)
    return len(counter)
"""


@pytest.fixture
def child(warm_parent, student_dir):
    child = warm_parent.spawn(student_dir("mlp.py", MODULE))
    yield child
    child.close()


def test_results_come_back_as_plain_arrays(child):
    x, W, b = np.ones((2, 3)), np.arange(12.0).reshape(4, 3), np.arange(4.0)
    got = child.call("call", "mlp", "linear", x, W, b)
    assert type(got) is np.ndarray and np.array_equal(got, x @ W.T + b)


def test_student_code_never_runs_in_the_grader(child):
    pid, _ = child.call("call", "mlp", "where_am_i")
    assert pid != os.getpid()
    import sys
    assert "mlp" not in sys.modules


def test_an_exception_is_reported_with_its_type_message_and_line(child):
    with pytest.raises(StudentCodeError, match=r"ValueError: boom 3 \(mlp.py, line \d+\)") as info:
        child.call("call", "mlp", "boom", 3)
    assert info.value.kind == "raised"
    assert child.call("call", "mlp", "count") == 1   # the child survives an exception


def test_a_hanging_call_times_out_and_the_child_is_killed(child):
    with pytest.raises(StudentCodeError, match="no answer within 0.5 s") as info:
        child.call("call", "mlp", "hang", timeout=0.5)
    assert info.value.kind == "timeout" and not child.alive
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)


@pytest.mark.parametrize("function, args", [("leave", (0,)), ("leave", (3,))])
def test_exiting_the_process_costs_only_that_call(warm_parent, child, student_dir, function, args):
    with pytest.raises(StudentCodeError, match="process running your code ended") as info:
        child.call("call", "mlp", function, *args)
    assert info.value.kind == "died"
    fresh = warm_parent.spawn(student_dir.folder)
    assert fresh.call("call", "mlp", "count") == 1   # a fresh child, fresh module state
    fresh.close()


def test_sys_exit_is_an_exception_not_an_exit(child):
    with pytest.raises(StudentCodeError, match="SystemExit"):
        child.call("call", "mlp", "leave_politely")
    assert child.call("call", "mlp", "count") == 1


def test_unsupported_return_types_are_refused(child):
    with pytest.raises(StudentCodeError, match="unsupported return type") as info:
        child.call("call", "mlp", "subclass")
    assert info.value.kind == "unsupported"


def test_syntax_errors_and_missing_functions(warm_parent, student_dir):
    child = warm_parent.spawn(student_dir("mlp.py", "def linear(x:\n"))
    with pytest.raises(StudentCodeError, match="could not be imported: SyntaxError") as info:
        child.call("call", "mlp", "linear", 1)
    assert info.value.kind == "import"
    child.close()
    child = warm_parent.spawn(student_dir("mlp.py", "x = 1\n"))
    with pytest.raises(StudentCodeError, match=r"mlp.py has no function linear\(\)"):
        child.call("call", "mlp", "linear", 1)
    child.close()


def test_children_are_confined_to_the_submission_folder(child, student_dir):
    _, cwd = child.call("call", "mlp", "where_am_i")
    if os.geteuid() == 0:
        assert cwd == "/"      # chrooted into the submission folder
    else:
        assert cwd == str(student_dir.folder.resolve())


ESCAPER = """
import os, time

def escape():
    pid = os.fork()
    if pid == 0:
        os.setsid()                      # leave the child's process group
        if os.fork() == 0:
            time.sleep(600)
        os._exit(0)
    os.waitpid(pid, 0)
    return 1

def allocate(n_bytes):
    return len(bytearray(n_bytes))
"""


def processes_with_ppid_chain(root_pid):
    """pids of every process whose ancestry includes root_pid."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except OSError:
                pass
    def descends(pid):
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == root_pid:
                return True
        return False
    return [pid for pid in parents if descends(pid)]


def test_processes_that_escape_the_group_die_with_the_child(warm_parent, student_dir):
    child = warm_parent.spawn(student_dir("mlp.py", ESCAPER))
    assert child.call("call", "mlp", "escape") == 1
    child.close()
    import time
    time.sleep(0.05)
    assert processes_with_ppid_chain(warm_parent.process.pid) == []


def test_memory_beyond_the_limit_fails_the_call_not_the_grader(student_dir):
    from autograder.isolation.sandbox import Limits, WarmParent
    with WarmParent(Limits(data_bytes=1024 ** 3)) as parent:
        child = parent.spawn(student_dir("mlp.py", ESCAPER))
        assert child.call("call", "mlp", "allocate", 10 ** 6) == 10 ** 6
        with pytest.raises(StudentCodeError, match="MemoryError"):
            child.call("call", "mlp", "allocate", 2 * 1024 ** 3)
        child.close()


def test_children_do_not_inherit_the_graders_environment(student_dir, monkeypatch):
    from autograder.isolation.sandbox import WarmParent
    monkeypatch.setenv("DLEXAM_TEST_SECRET", "hunter2")
    source = "import os\ndef env():\n    return sorted(os.environ)\n"
    with WarmParent() as parent:
        child = parent.spawn(student_dir("mlp.py", source))
        names = child.call("call", "mlp", "env")
        child.close()
    assert "DLEXAM_TEST_SECRET" not in names and "PYTHONHASHSEED" in names


def test_a_killed_warm_parent_is_restarted(student_dir):
    from autograder.isolation.sandbox import WarmParent
    with WarmParent() as parent:
        parent.spawn(student_dir("mlp.py", MODULE)).close()
        parent.process.kill()
        parent.process.wait()
        child = parent.spawn(student_dir.folder)
        assert child.call("call", "mlp", "count") == 1
        child.close()


def test_the_output_of_a_closed_child_is_removed(child):
    path = child.output_path
    assert path.exists()
    child.close()
    assert not path.exists()


LIAR = '''
import os, stat

class Nameless(type):
    @property
    def __name__(cls):
        raise RuntimeError("no name")

class Sly(str):
    def __getitem__(self, index):
        raise RuntimeError("no slicing")

class Lie(Exception, metaclass=Nameless):
    def __str__(self):
        return Sly("\\x1b[2J PASSED \\udcff")

def lie():
    raise Lie()

def forge():
    for fd in range(3, 32):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, (15).to_bytes(4, "big") + b'{"ready": true}')
        except OSError:
            pass
    return 1
'''


def test_lying_exceptions_and_forged_replies_cost_only_their_call(warm_parent, student_dir):
    child = warm_parent.spawn(student_dir("mlp.py", LIAR))
    with pytest.raises(StudentCodeError) as info:
        child.call("call", "mlp", "lie")
    assert info.value.kind == "raised" and str(info.value).startswith("Lie: ")
    assert "\x1b" not in str(info.value) and "\udcff" not in str(info.value)
    with pytest.raises(StudentCodeError, match="unreadable answer") as info:
        child.call("call", "mlp", "forge")
    assert info.value.kind == "protocol" and not child.alive


@pytest.mark.skipif(os.geteuid() != 0, reason="the cgroup needs root")
def test_shared_memory_counts_against_the_childs_cgroup(student_dir):
    from autograder.isolation import cgroups
    from autograder.isolation.sandbox import Limits, WarmParent
    if not cgroups.available():
        pytest.skip("no memory and pids cgroup on this machine")
    source = ("import mmap\ndef bomb():\n    m = mmap.mmap(-1, 2 ** 30)\n"
              "    for i in range(0, len(m), 4096):\n        m[i] = 1\n    return 1\n")
    with WarmParent(Limits(memory_bytes=256 * 1024 ** 2)) as parent:
        child = parent.spawn(student_dir("mlp.py", source))
        with pytest.raises(StudentCodeError) as info:
            child.call("call", "mlp", "bomb")
        assert info.value.kind == "died"
        child.close()
