"""Student code runs only in sandboxed children; whatever it does costs only that call.

These run in the test process's own mode (root in CI); tests/test_unprivileged.py runs the same
checks as an unprivileged user.
"""
import os
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.isolation import filesystem
from autograder.isolation.sandbox import (Limits, SandboxError, StudentCodeError, UID_BASE,
                                          WarmParent)
from tests.sandbox_probes import PROBES_SOURCE, look_around

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

def shout(chunks):
    chunk = "x" * 9999 + "\\n"
    for _ in range(chunks):
        print(chunk, end="")
    sys.stdout.flush()
    os.write(2, b"and on fd 2\\n")
    return chunks

def scale_in_place(x):
    x *= 2
    return x

def update(params):
    params["W"] = params["W"] + 1
    return params

def update_copies(params):
    import copy
    new, deep = dict(params), copy.deepcopy(params)
    new["W"], deep["W"] = 1.0, 2.0
    deep["W2"] = params.copy()
    deep["W2"]["b"] = 3
    return [new["W"], deep["W"]]

def grow(xs):
    xs.append(1)
    return len(xs)

def unchanged(params):
    return params

counter = []
def count():
    counter.append(1)
    return len(counter)
"""


def value(reply):
    return reply["value"]


def children_of(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()]


def question_pid(child) -> int:
    """The host pid of the process running a child's student code: the child of the init of its
    box, which is the child of the box's keeper."""
    (init,) = children_of(child.box.keeper)
    (question,) = children_of(init)
    return question


@pytest.fixture
def child(warm_parent, student_dir):
    child = warm_parent.spawn(student_dir("mlp.py", MODULE))
    yield child
    child.close()


def test_results_come_back_as_plain_arrays(child):
    x, W, b = np.ones((2, 3)), np.arange(12.0).reshape(4, 3), np.arange(4.0)
    got = child.call("call", "mlp", "linear", x, W, b)
    assert type(got["value"]) is np.ndarray and np.array_equal(got["value"], x @ W.T + b)
    assert got["modified"] == []


def test_an_array_given_to_a_function_cannot_be_written(child):
    """Read-only: not a comparison the child could forge, but an error in the student's code."""
    with pytest.raises(StudentCodeError, match="read-only"):
        child.call("call", "mlp", "scale_in_place", np.ones(3))


def test_a_dict_given_to_a_function_cannot_be_changed_but_its_copies_can(child):
    with pytest.raises(StudentCodeError, match="must not be changed"):
        child.call("call", "mlp", "update", {"W": np.ones(2)})
    assert value(child.call("call", "mlp", "update_copies", {"W": np.ones(2)})) == [1.0, 2.0]
    returned = value(child.call("call", "mlp", "unchanged", {"W": np.ones(2)}))   # allowed
    assert type(returned) is dict and np.array_equal(returned["W"], np.ones(2))


def test_a_list_changed_in_place_is_named(child):
    reply = child.call("call", "mlp", "grow", [1, 2])
    assert reply["modified"] == ["xs"] and reply["value"] == 3


def test_student_code_never_runs_in_the_grader(child):
    seen = value(child.call("call", "mlp", "count"))
    assert seen == 1
    import sys
    assert "mlp" not in sys.modules


def test_an_exception_is_reported_with_its_type_message_and_line(child):
    with pytest.raises(StudentCodeError, match=r"ValueError: boom 3 \(mlp.py, line \d+\)") as info:
        child.call("call", "mlp", "boom", 3)
    assert info.value.kind == "raised" and info.value.type == "ValueError"
    assert value(child.call("call", "mlp", "count")) == 1   # the child survives an exception


def test_a_hanging_call_times_out_and_the_child_is_gone(child):
    pid = question_pid(child)
    with pytest.raises(StudentCodeError, match="no answer within 0.5 s") as info:
        child.call("call", "mlp", "hang", timeout=0.5)
    assert info.value.kind == "timeout" and not child.alive and not alive(pid)


@pytest.mark.parametrize("code", [0, 3])
def test_exiting_the_process_costs_only_that_call(warm_parent, child, student_dir, code):
    with pytest.raises(StudentCodeError, match="process running your code ended") as info:
        child.call("call", "mlp", "leave", code)
    assert info.value.kind == "died"
    fresh = warm_parent.spawn(student_dir.folder)
    assert value(fresh.call("call", "mlp", "count")) == 1   # a fresh child, fresh module state
    fresh.close()


def test_sys_exit_is_an_exception_not_an_exit(child):
    with pytest.raises(StudentCodeError, match="SystemExit"):
        child.call("call", "mlp", "leave_politely")
    assert value(child.call("call", "mlp", "count")) == 1


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


def test_printing_never_fails_and_is_capped(child):
    """80 MB, ten times the largest file a child may write: the call still succeeds, the first
    64 KiB are kept and the rest counted."""
    assert value(child.call("call", "mlp", "shout", 8000)) == 8000
    child.close()
    assert child.printed == 8000 * 10000 + len("and on fd 2\n")
    assert child.output().startswith("x" * 100)


# --- confinement: what a child sees and reaches ------------------------------------------------
@pytest.fixture(scope="module")
def seen(warm_parent, tmp_path_factory):
    """What a child finds when it looks around (tests/sandbox_probes.py), in this mode."""
    folder = tmp_path_factory.mktemp("looker")
    (folder / "mlp.py").write_text(PROBES_SOURCE)
    folder.chmod(0o755)
    return look_around(warm_parent, folder)


def test_a_child_sees_its_submission_and_the_interpreter_only(seen):
    assert seen["cwd"] == filesystem.SUBMISSION and seen["listing"] == ["mlp.py"]
    assert seen["kit_visible"] is False and seen["suites_visible"] is False
    assert seen["scratch_visible"] is False and seen["home_shows_only_the_way_to_python"]
    assert seen["imports"] == {"numpy.typing": True, "graphlib": True, "numpy.testing": True,
                               "matplotlib.pyplot": True}


def test_a_child_cannot_write_outside_its_tmp(seen):
    assert seen["writes"] == {"/submission": False, "/usr": False, "/tmp": True, "/": False}


def test_a_child_sees_no_process_but_its_own(seen):
    """Its PID namespace holds the submission's init (1) and itself."""
    assert seen["pid"] == 2 and seen["processes"] == [1, 2]


def test_a_child_has_no_network(seen):
    assert seen["network"].startswith("refused")


def test_a_child_has_no_privilege(seen):
    """Root of a user namespace of its own, with no capability (and no group)."""
    assert seen["uid"] == 0 and seen["capabilities"] == 0 and seen["groups"] in ([], [65534])


def test_a_numpy_only_child_cannot_reach_torch(seen):
    assert seen["torch"].startswith("TorchNotAllowed") and seen["torch_files"] == []


# --- nothing a child does outlives it or reaches another ----------------------------------------
ATTACKER = """
import os, signal, time, ctypes, mmap

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

def shared_memory(n_bytes):
    libc = ctypes.CDLL(None, use_errno=True)
    ids = []
    for _ in range(4):
        ids.append(libc.shmget(0, ctypes.c_size_t(n_bytes), 0o1000 | 0o600))   # IPC_PRIVATE
    return ids

def kill_everyone():
    os.kill(-1, signal.SIGKILL)
    return 1

def sleep(seconds):
    time.sleep(seconds)
    return 1
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def descendants(root_pid: int) -> list[int]:
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
    return [pid for pid in parents if descends(pid) and alive(pid)]


def test_processes_that_escape_the_group_die_with_the_child(warm_parent, student_dir):
    child = warm_parent.spawn(student_dir("mlp.py", ATTACKER))
    assert value(child.call("call", "mlp", "escape")) == 1
    child.close()
    deadline = time.monotonic() + 2
    while descendants(warm_parent.process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert descendants(warm_parent.process.pid) == []


def sysv_segments() -> set[int]:
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {int(line.split()[1]) for line in lines}


def test_shared_memory_segments_die_with_the_child(warm_parent, student_dir):
    before = sysv_segments()
    child = warm_parent.spawn(student_dir("mlp.py", ATTACKER))
    ids = value(child.call("call", "mlp", "shared_memory", 1024 ** 2))
    assert all(i >= 0 for i in ids)   # created in the child's own IPC namespace...
    assert sysv_segments() == before  # ...never in the host's
    child.close()
    assert sysv_segments() == before


def test_shared_memory_is_bounded_in_the_childs_ipc_namespace(warm_parent, student_dir):
    child = warm_parent.spawn(student_dir("mlp.py", ATTACKER))
    ids = value(child.call("call", "mlp", "shared_memory", 1024 ** 3))
    assert all(i < 0 for i in ids)   # over the namespace's shmmax
    child.close()


def test_killing_every_process_it_can_reaches_no_other_child(warm_parent, student_dir):
    sleeper = warm_parent.spawn(student_dir("mlp.py", ATTACKER))
    killer = warm_parent.spawn(student_dir.folder)
    with pytest.raises(StudentCodeError):   # kill(-1) kills its own namespace, itself included
        killer.call("call", "mlp", "kill_everyone")
    assert value(sleeper.call("call", "mlp", "sleep", 0.01)) == 1
    assert warm_parent.process.poll() is None
    sleeper.close()
    killer.close()


def worker_uid(child) -> int:
    """The real uid, outside its namespaces, of the process running a child's student code."""
    status = Path(f"/proc/{question_pid(child)}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def test_each_child_has_a_uid_of_its_own(warm_parent, student_dir):
    if os.geteuid() != 0:
        pytest.skip("only root gives children uids of their own (a user namespace otherwise)")
    folder = student_dir("mlp.py", MODULE)
    a, b = warm_parent.spawn(folder), warm_parent.spawn(folder)
    uids = {worker_uid(a), worker_uid(b)}
    assert len(uids) == 2 and min(uids) >= UID_BASE
    a.close()
    b.close()


KEYS = """
import ctypes

def add_keys(n):
    libc = ctypes.CDLL(None, use_errno=True)
    made = 0
    for i in range(n):   # add_key(2) into the user keyring (-4): lives as long as its namespace
        made += libc.syscall(248, b"user", f"left-{i}".encode(), b"secret", 6, -4) > 0
    return made
"""


def key_users() -> set[int]:
    return {int(line.split(":")[0]) for line in Path("/proc/key-users").read_text().splitlines()}


def test_kernel_keys_die_with_the_child(warm_parent, student_dir):
    before = key_users()
    child = warm_parent.spawn(student_dir("mlp.py", KEYS))
    assert value(child.call("call", "mlp", "add_keys", 20)) == 20
    child.close()
    deadline = time.monotonic() + 5
    while key_users() - before and time.monotonic() < deadline:   # freed by the kernel's GC
        time.sleep(0.05)
    assert {uid for uid in key_users() - before if uid >= UID_BASE} == set()


LEFTOVERS = """
import ctypes, glob, os, subprocess, time

def leave():
    open("/tmp/left-by-question-1", "w").write("x")
    open("/dev/shm/left-too", "w").write("x")
    ctypes.CDLL(None).shmget(0, 4096, 0o1000 | 0o600)
    if os.fork() == 0:
        os.setsid()
        time.sleep(600)
    return 1

def find():
    with open("/proc/sysvipc/shm") as f:
        segments = f.read().splitlines()[1:]
    processes = [p for p in os.listdir("/proc") if p.isdigit()]
    return [glob.glob("/tmp/*") + glob.glob("/dev/shm/*"), len(segments), len(processes)]
"""


def test_nothing_a_question_leaves_reaches_the_next_question_of_the_same_submission(
        warm_parent, student_dir):
    box = warm_parent.box(student_dir("mlp.py", LEFTOVERS))
    first = box.spawn({})
    assert value(first.call("call", "mlp", "leave")) == 1
    first.close()
    second = box.spawn({})
    files, segments, processes = value(second.call("call", "mlp", "find"))
    second.close()
    box.close()
    assert files == [] and segments == 0
    assert processes == 2   # the init and this question's child


def test_a_question_that_kills_everything_it_can_does_not_end_the_submission(
        warm_parent, student_dir):
    box = warm_parent.box(student_dir("mlp.py", ATTACKER))
    killer = box.spawn({})
    with pytest.raises(StudentCodeError):
        killer.call("call", "mlp", "kill_everyone")
    killer.close()
    after = box.spawn({})   # the init (PID 1 of the namespace, no handlers) cannot be killed
    assert value(after.call("call", "mlp", "sleep", 0.01)) == 1
    after.close()
    box.close()


def test_memory_beyond_the_limit_fails_the_call_not_the_grader(student_dir):
    with WarmParent(Limits(data_bytes=1024 ** 3), flavour="numpy") as parent:
        child = parent.spawn(student_dir("mlp.py", ATTACKER))
        assert value(child.call("call", "mlp", "allocate", 10 ** 6)) == 10 ** 6
        with pytest.raises(StudentCodeError, match="MemoryError"):
            child.call("call", "mlp", "allocate", 2 * 1024 ** 3)
        child.close()


def test_children_do_not_inherit_the_graders_environment(student_dir, monkeypatch):
    monkeypatch.setenv("DLEXAM_TEST_SECRET", "hunter2")
    source = "import os\ndef env():\n    return sorted(os.environ)\n"
    with WarmParent(flavour="numpy") as parent:
        child = parent.spawn(student_dir("mlp.py", source))
        names = value(child.call("call", "mlp", "env"))
        child.close()
    assert "DLEXAM_TEST_SECRET" not in names and "PYTHONHASHSEED" in names


def test_a_killed_warm_parent_is_restarted(student_dir):
    with WarmParent(flavour="numpy") as parent:
        parent.spawn(student_dir("mlp.py", MODULE)).close()
        parent.process.kill()
        parent.process.wait()
        child = parent.spawn(student_dir.folder)
        assert value(child.call("call", "mlp", "count")) == 1
        child.close()


def test_a_child_that_cannot_start_stops_grading(student_dir):
    """The sandbox's own failure is the grader's, never a student's 0."""
    with WarmParent(flavour="numpy") as parent:
        with pytest.raises(SandboxError, match="failed to start"):
            parent.spawn(student_dir.folder / "no-such-folder")


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
def test_shared_mappings_count_against_the_childs_cgroup(student_dir):
    from autograder.isolation import cgroups
    if not cgroups.available():
        pytest.skip("no memory and pids cgroup on this machine")
    source = ("import mmap\ndef bomb():\n    m = mmap.mmap(-1, 2 ** 30)\n"
              "    for i in range(0, len(m), 4096):\n        m[i] = 1\n    return 1\n")
    with WarmParent(Limits(memory_bytes=256 * 1024 ** 2), flavour="numpy") as parent:
        child = parent.spawn(student_dir("mlp.py", source))
        with pytest.raises(StudentCodeError) as info:
            child.call("call", "mlp", "bomb")
        assert info.value.kind == "died"
        child.close()
