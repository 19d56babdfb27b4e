"""The hostile submissions of the threat suite: a correct submission with one attack in one module.

Each Threat names the module it attacks and how:
- `at_import`: code appended to the module (it runs when the module is imported);
- `at_call`: {function: code} — the function is wrapped, the code runs before the original is
  called; it sees `args`, `kwargs` and `original`, and may `return` a value of its own;
- `build`: a function that builds the whole submission instead (archives, links, extra files).
Attacks aim at paths they are given in a dict `_THREAT` (results file, places outside the
scratch folder, where the hidden suites live, a port to reach): they are written by someone who
knows the grader's layout. They are never given the canary itself, only the shape of one
("dlexam-canary-" and hex digits), so the canary reaches a report only if the attack read it.

Questions an attack touches, and may therefore cost: at import, every question of the module;
at call, the question of the function and those of the module's functions that call it in the
correct submission (read from its source), except callers of another question when the kit has
a stand-in for the function (autograder/standins.py: those tests never run the student's own).
Every other question must keep full marks; the touched ones must lose points, so that a forgery
that "restores" them would show (an attack that must cost nothing, like state left for another question, declares `touches` empty).
"""
from __future__ import annotations

import ast
import os
import shutil
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autograder import rubric as rubric_module
from autograder.standins import STAND_INS

CORRECT = Path(__file__).resolve().parents[2] / "examples" / "submissions" / "correct"
CANARY_PATTERN = r"dlexam-canary-[0-9a-f]+"


@dataclass(frozen=True)
class Threat:
    name: str
    module: str | None = None
    at_import: str = ""
    at_call: dict[str, str] = field(default_factory=dict)
    build: Callable[["Threat", Path, dict], Path] | None = None
    touches: frozenset[str] | None = None   # None: derived from the module and functions
    needs: str = ""                         # "root" or "cgroup": not built without it
    problem: str = ""                       # a line intake must report

    def touched(self) -> set[str]:
        if self.touches is not None:
            return set(self.touches)
        rubric = rubric_module.load()
        found = set()
        if self.at_import:
            found |= {q.id for q in rubric.questions if self.module in q.modules}
        for function in self.at_call:
            own = rubric.question_of(f"{self.module}.{function}")
            for name in {function} | callers(self.module, function):
                question = rubric.question_of(f"{self.module}.{name}")
                stood_in = f"{self.module}.{function}" in STAND_INS and question != own
                if question and not stood_in:
                    found.add(question.id)
        return found


def callers(module: str, function: str) -> set[str]:
    """Functions of the correct `module` that call `function`, directly or not."""
    tree = ast.parse((CORRECT / f"{module}.py").read_text())
    calls = {node.name: {c.func.id for c in ast.walk(node)
                         if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
             for node in tree.body if isinstance(node, ast.FunctionDef)}
    found, frontier = set(), {function}
    while frontier:
        frontier = {name for name, called in calls.items() if called & frontier} - found
        found |= frontier
    return found


# --- building submissions ----------------------------------------------------------------------
PRELUDE = '''

# ---- hostile code added by tests/threats: {name} ----
import os as _os

_THREAT = {context!r}


def _threat_write_outside(tag):
    """Try to leave a file in each place outside the scratch folder."""
    for folder in _THREAT["outside"]:
        try:
            with open(_os.path.join(folder, _THREAT["token"] + "-" + tag), "w") as f:
                f.write("written by student code")
        except OSError:
            pass
'''

WRAPPER = '''

def _threat_wrap_{function}(original):
    def {function}(*args, **kwargs):
{code}
        return original(*args, **kwargs)
    return {function}


{function} = _threat_wrap_{function}({function})
'''


def hostile_source(threat: Threat, context: dict) -> str:
    source = (CORRECT / f"{threat.module}.py").read_text()
    source += PRELUDE.format(name=threat.name, context={**context, "name": threat.name})
    if threat.at_import:
        source += "\n" + textwrap.dedent(threat.at_import)
    for function, code in threat.at_call.items():
        source += WRAPPER.format(function=function,
                                 code=textwrap.indent(textwrap.dedent(code), " " * 8))
    return source


def build(threat: Threat, root: Path, context: dict) -> Path:
    """The submission of `threat` under `root` (a folder, or a zip)."""
    if threat.build:
        return threat.build(threat, root, context)
    folder = root / threat.name
    shutil.copytree(CORRECT, folder)
    (folder / f"{threat.module}.py").write_text(hostile_source(threat, context))
    return folder


def with_files(files: dict[str, str]):
    """A builder: the correct submission plus extra files (path -> text, "@TRIPWIRE" replaced)."""
    def builder(threat: Threat, root: Path, context: dict) -> Path:
        folder = build(Threat(threat.name, threat.module, threat.at_import, threat.at_call),
                       root, context) if threat.module else _copy(threat, root)
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            tripwire = context["tripwire"] + "-" + path.replace("/", "_")
            (folder / path).write_text(text.replace("@TRIPWIRE", tripwire))
        return folder
    return builder


def _copy(threat: Threat, root: Path) -> Path:
    folder = root / threat.name
    shutil.copytree(CORRECT, folder)
    return folder


def linked(module: str, hard: bool):
    """A builder: `module`.py replaced by a link to the planted secret file."""
    def builder(threat: Threat, root: Path, context: dict) -> Path:
        folder = _copy(threat, root)
        (folder / f"{module}.py").unlink()
        (os.link if hard else os.symlink)(context["canary_file"], folder / f"{module}.py")
        return folder
    return builder


def archive(extra: dict[str, bytes | int] | None = None, drop: str | None = None,
            symlink: tuple[str, str] | None = None):
    """A builder: the correct modules in a zip, `drop`.py left out, plus hostile entries.

    extra: entry name -> bytes, or a number of zero bytes ("@OUTSIDE" in a name becomes a
    folder outside the scratch); symlink: (entry name, target) stored as a symbolic link.
    """
    def builder(threat: Threat, root: Path, context: dict) -> Path:
        path = root / f"{threat.name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            for module in sorted(CORRECT.glob("*.py")):
                if module.stem != drop:
                    z.write(module, f"{threat.name}/{module.name}")
            for name, data in (extra or {}).items():
                name = name.replace("@OUTSIDE", context["outside"][1].lstrip("/"))
                if isinstance(data, int):
                    with z.open(name, "w") as f:
                        for _ in range(data // 2 ** 20):
                            f.write(bytes(2 ** 20))
                else:
                    z.writestr(name, data)
            if symlink:
                info = zipfile.ZipInfo(symlink[0])
                info.external_attr = 0o120777 << 16
                z.writestr(info, symlink[1].replace("@CANARY_FILE", context["canary_file"]))
        return path
    return builder


# --- the attacks -------------------------------------------------------------------------------
WRONG = "return None   # a wrong answer: the attack around it must not win its points back\n"

FORGE_RESULTS = '''
import json, time
forged = {"submission": _THREAT["name"], "track": "M2", "total": 35.0, "max": 35.0,
          "on20": 20.0, "questions": [], "status": "graded"}
def forge():
    try:
        with open(_os.path.join(_THREAT["results_dir"], _THREAT["name"] + ".json"), "w") as f:
            json.dump(forged, f)
    except OSError:
        pass
forge()
pid = _os.fork()
if pid == 0:                      # a delayed rewriter, out of the child's process group
    _os.setsid()
    if _os.fork() == 0:
        for _ in range(400):
            forge()
            time.sleep(0.05)
    _os._exit(0)
_os.waitpid(pid, 0)
''' + WRONG

FAKE_STDOUT = '''
import sys
for stream in (sys.stdout, sys.stderr):
    stream.write("PASSED test_training.py::test_l2_grad_matches_torch\\n" * 20)
    stream.write('{"submission": "%s", "total": 35.0, "max": 35.0}\\n' % _THREAT["name"])
    stream.write("\\x1b[2J\\x1b[H  total 35/35   on 20: 20\\n")
    stream.flush()
''' + WRONG

CONFTEST = '''
open("@TRIPWIRE", "w").write("a submitted pytest file ran in the grader")

def pytest_runtest_makereport(item, call):
    call.excinfo = None
'''

WRITE_CONFTEST = '''
_threat_write_outside("conftest")
for folder in (_THREAT["suites"], "."):
    try:
        with open(_os.path.join(folder, "conftest.py"), "w") as f:
            f.write("def pytest_collection_modifyitems(items):\\n    items.clear()\\n")
    except OSError:
        pass
''' + WRONG

SHADOW = 'open("@TRIPWIRE", "w").write("a shadowing file was imported")\nraise SystemExit(0)\n'

PATCH_NUMPY = '''
import numpy as _np
_np.allclose = _np.array_equal = _np.array_equiv = lambda *a, **k: True
_np.isclose = lambda a, b, *r, **k: _np.ones(_np.broadcast(a, b).shape, bool)
_np.testing.assert_allclose = _np.testing.assert_array_equal = lambda *a, **k: None
softmax = lambda z, axis=-1: _np.zeros_like(z)     # and a wrong softmax
'''

PATCH_TORCH = '''
import torch as _torch
_torch.allclose = _torch.equal = lambda *a, **k: True
_torch.isclose = lambda a, b, *r, **k: _torch.ones_like(a, dtype=_torch.bool)
_torch.testing.assert_close = lambda *a, **k: None
_torch.Tensor.__eq__ = lambda self, other: _torch.ones_like(self, dtype=_torch.bool)
discriminator_loss = lambda real_logits, fake_logits: _torch.zeros(())   # and a wrong loss
'''

LYING_OBJECT = '''
class Liar:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __array__(self, *a, **k):
        return original(*args, **kwargs)
    def __getattr__(self, name):
        return getattr(original(*args, **kwargs), name)
return Liar()
'''

NDARRAY_SUBCLASS = '''
import numpy as np
class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, bool)
return original(*args, **kwargs).view(Agreeable)   # right numbers, in a subclass
'''

TENSOR_SUBCLASS = '''
import torch
class Agreeable(torch.Tensor):
    def __eq__(self, other):
        return torch.ones(self.shape, dtype=torch.bool)
return original(*args, **kwargs).as_subclass(Agreeable)
'''

OBJECT_DTYPE = '''
import numpy as np
out = original(*args, **kwargs)
return np.array(list(out.ravel()), dtype=object).reshape(out.shape)
'''

PICKLE_PAYLOAD = '''
class Payload:
    def __reduce__(self):   # unpickling it would leave a file behind
        return (open, (_THREAT["tripwire"] + "-pickle", "w"))
return Payload()
'''

PYTEST_EXIT = '''
try:
    import pytest
    pytest.exit("all tests passed", returncode=0)
except ImportError:   # chrooted: pytest is out of reach; raise what it would
    raise SystemExit(0)
'''

EXITS = {"sys_exit": "import sys\nsys.exit(0)\n", "os_exit": "_os._exit(0)\n",
         "keyboard_interrupt": "raise KeyboardInterrupt\n", "pytest_exit": PYTEST_EXIT}

SEGFAULT = "import ctypes\nctypes.string_at(0)\n"
LOOP = "while True:\n    pass\n"
SIGNAL_IGNORING_LOOP = '''
import signal
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGALRM,
            signal.SIGXCPU, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
    signal.signal(sig, signal.SIG_IGN)
while True:
    pass
'''

MEMORY_BOMB = '''
import numpy as np
hog = [bytearray(2 ** 28) for _ in range(64)]       # 16 GiB in the heap
hog.append(np.ones(2 ** 31))                          # and 16 GiB more from numpy
'''

SHARED_MEMORY_BOMB = '''
import mmap
hog = mmap.mmap(-1, 6 * 2 ** 30)        # shared and anonymous: not counted by RLIMIT_DATA
for i in range(0, len(hog), 4096):
    hog[i] = 1
'''

FORK_BOMB = '''
import time
for _ in range(2000):                  # bounded: the sandbox's limit comes first
    if _os.fork() == 0:
        _os.setsid()                   # out of the child's process group
        time.sleep(600)
        _os._exit(0)
''' + WRONG

OUTPUT_FLOOD = '''
import sys
line = "PASSED " * 1000 + "\\n"
while True:
    sys.stdout.write(line)
    sys.stderr.write(line)
'''

FILE_SIZE_BOMB = '''
_threat_write_outside("small")
for folder in ["."] + _THREAT["outside"]:
    try:
        with open(_os.path.join(folder, _THREAT["token"] + "-big"), "wb") as f:
            for _ in range(256):
                f.write(bytes(2 ** 20))
    except OSError:
        pass
''' + WRONG

NETWORK = '''
import socket
try:
    with socket.create_connection(("127.0.0.1", _THREAT["port"]), timeout=1) as s:
        s.sendall(b"student code reached the network")
except OSError:
    pass
try:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.sendto(b"student code reached the network", ("127.0.0.1", _THREAT["udp_port"]))
except OSError:
    pass
''' + WRONG

READ_SECRETS = '''
import ctypes, gc, re, sys
seen = [repr(dict(_os.environ))]
environ = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
i = 0
while environ and environ[i] and i < 500:     # the C environment, as the process started with it
    seen.append(environ[i].decode("latin-1"))
    i += 1
paths = [_THREAT["canary_file"], _THREAT["suites"] + "/test_softmax.py", _THREAT["rubric"],
         "/proc/self/environ", "/proc/%d/environ" % _os.getppid(), "/proc/1/environ",
         "../sub0/mlp.py", "/proc/%d/cmdline" % _os.getppid()]
for root, dirs, files in _os.walk("/"):
    paths += [_os.path.join(root, f) for f in files if f.endswith((".txt", ".toml", ".py"))][:50]
    if len(paths) > 500:
        break
for path in paths:
    try:
        with open(path, "rb") as f:
            seen.append(f.read(1 << 20).decode("latin-1"))
    except OSError:
        pass
seen += [v for o in gc.get_objects() if type(o) is dict for v in o.values() if type(v) is str]
blob = "\\n".join(seen)
found = sorted(set(re.findall(r"''' + CANARY_PATTERN + '''", blob)))
# built here, not written whole: this file, which the attack also reads, must not match
hints = [h for h in ("".join(["@pytest.mark.", "question"]), "".join(["[[", "questions]]"]))
         if h in blob]
raise RuntimeError(f"leaked: {found} {hints}")
'''

KILL_PARENT = '''
import signal
for target in (_os.getppid(), 1, -1):   # the warm parent, init, every process we may signal
    try:
        _os.kill(target, signal.SIGKILL)
    except OSError:
        pass
''' + WRONG

SOCKET_GARBAGE = '''
import stat
for fd in range(3, 64):
    try:
        if stat.S_ISSOCK(_os.fstat(fd).st_mode):
            _os.write(fd, (2 ** 31).to_bytes(4, "big") + b"{" * 1000)
    except OSError:
        pass
''' + WRONG

SOCKET_TRICKLE = '''
import stat, time
for fd in range(3, 64):
    try:
        if stat.S_ISSOCK(_os.fstat(fd).st_mode):
            _os.write(fd, (200).to_bytes(4, "big"))
            for _ in range(200):           # one byte a second: the grader must not wait 200 s
                time.sleep(1)
                _os.write(fd, b" ")
    except OSError:
        pass
''' + WRONG

LYING_EXCEPTION = '''
class Nameless(type):
    @property
    def __name__(cls):
        raise RuntimeError("no name for you")
class Sly(str):
    def __getitem__(self, index):
        raise RuntimeError("no slicing either")
class Lie(Exception, metaclass=Nameless):
    def __str__(self):
        return Sly("\\x1b[2J\\x1b[H[/] [bold green]35/35 PASSED[/] \\udcff\\x00" + "x" * 100000)
raise Lie()
'''

LEAK_SET = '''
import builtins, numpy, sys
builtins._threat_leak = numpy._threat_leak = True
_os.environ["THREAT_LEAK"] = "1"
sys.modules["_threat_leak"] = sys
'''

LEAK_CHECK = '''
import builtins, numpy, sys
if (getattr(builtins, "_threat_leak", False) or getattr(numpy, "_threat_leak", False)
        or "THREAT_LEAK" in _os.environ or "_threat_leak" in sys.modules):
    return None   # state left by another question's tests reached this one
'''

MUTATE_INPUTS = '''
result = original(*args, **kwargs)
for g in args[0].values():
    g[...] = 0.0                      # the caller's gradients, zeroed in place
return result
'''

SYSV_PERSISTENCE = '''
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
for _ in range(16):                    # segments outlive a process unless its IPC namespace dies
    _id = _libc.shmget(0, ctypes.c_size_t(2 ** 26), 0o1000 | 0o666)
    if _id >= 0:
        _address = _libc.shmat(_id, None, 0)
        if _address not in (None, ctypes.c_void_p(-1).value):
            ctypes.memset(_address, 1, 2 ** 26)
for _ in range(8):
    _libc.semget(0, 8, 0o1000 | 0o666)
    _libc.msgget(0, 0o1000 | 0o666)
'''

STAND_IN_MEMORY_BOMB = '''
import numpy as np
import training                  # its functions are stood in by the grader in Q1.x children
if not _THREAT.get("fired"):
    _THREAT["fired"] = True
    try:                         # (20000, 1) by (1, 20000): 40,000 numbers sent, 3.2 GB to compute
        training.leaky_relu(np.ones((20000, 1)), np.ones((1, 20000)))
    except Exception:
        pass
'''

STAND_IN_CPU_BOMB = '''
import numpy as np
import cnn                       # its conv2d is stood in by the grader in Q1.x children
cnn.conv2d(np.ones((1, 1, 1, 1)), np.ones((1, 1, 300, 300)), None, 1, 600)   # ~1e11 products
'''

# Each question's child imports mlp anew: a question that finds what an earlier one left (a
# POSIX message queue, a SysV segment, a folder in /tmp made unreadable) fails its import, so its
# points show it.
STATE_ACROSS_QUESTIONS = '''
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mq_open.restype = ctypes.c_int
_QUEUE, _FOLDER = b"/" + _THREAT["token"].encode(), "/tmp/" + _THREAT["token"]
_KEY = int(_THREAT["token"][-6:], 16)
_found = (_libc.mq_open(_QUEUE, 2) >= 0 or _os.path.lexists(_FOLDER)     # O_RDWR
          or _libc.shmget(_KEY, 4096, 0o600) >= 0)
_libc.mq_open(_QUEUE, 2 | 0o100, 0o600, None)                          # O_CREAT
_libc.shmget(_KEY, 4096, 0o1000 | 0o600)                               # IPC_CREAT
_os.makedirs(_FOLDER + "/inner", exist_ok=True)
open(_FOLDER + "/inner/left", "w").close()
_os.chmod(_FOLDER + "/inner", 0)
_os.chmod(_FOLDER, 0)
if _found:
    raise RuntimeError("an earlier question left its state to this one")
'''

TMP_FILLER = '''
for folder in ("/tmp", "/dev/shm", _os.environ.get("TMPDIR", "/tmp")):
    try:
        with open(_os.path.join(folder, _THREAT["token"] + "-filler"), "wb") as f:
            for _ in range(4096):
                f.write(bytes(2 ** 20))
    except OSError:
        pass
''' + WRONG

NEIGHBOUR_SCRATCH = '''
import glob
for pattern in ("/tmp/dlexam-scratch-*/sub*", "/var/tmp/dlexam-*/submissions/*", "../*",
                "/proc/*/root/submission", "/proc/*/cwd"):
    for folder in glob.glob(pattern):
        for module in ("softmax.py", "mlp.py"):
            try:
                with open(_os.path.join(folder, module), "w") as f:
                    f.write("def softmax(z, axis=-1):\\n    return z * 0\\n")
            except OSError:
                pass
''' + WRONG

PTRACE_AND_PROC = '''
import ctypes, signal
_libc = ctypes.CDLL(None, use_errno=True)
for pid in [int(p) for p in _os.listdir("/proc") if p.isdigit()] + [_os.getppid(), 1]:
    if pid != _os.getpid():
        _libc.ptrace(16, pid, None, None)          # PTRACE_ATTACH
        try:
            with open(f"/proc/{pid}/mem", "r+b") as f:
                f.write(b"\\0")
        except OSError:
            pass
        try:
            _os.kill(pid, signal.SIGSTOP)
        except OSError:
            pass
''' + WRONG

HUGE_RETURN = "import numpy as np\nreturn np.zeros(36 * 2 ** 20, np.uint8)   # 48 MB in base64\n"
DEEP_NESTING = "x = []\nfor _ in range(100000):\n    x = [x]\nreturn x\n"
BIG_INT = "return 10 ** 5000\n"

ZIP_BOMB = 200 * 1024 ** 2   # 200 MB of zeros: a few hundred KB compressed

THREATS = [
    Threat("forged_results", "mlp", at_call={"sgd_update": FORGE_RESULTS}),
    Threat("fake_stdout", "training", at_call={"l2_grad": FAKE_STDOUT}),
    Threat("conftest_hijack", "softmax", at_import='pytest_plugins = ["conftest"]\n',
           at_call={"log_softmax": WRITE_CONFTEST}, problem="conftest.py",
           build=with_files({"conftest.py": CONFTEST, "exam/conftest.py": CONFTEST,
                             "pytest.ini": "[pytest]\naddopts = -p conftest\n"})),
    Threat("shadow_modules", touches=frozenset(), problem="numpy.py",
           build=with_files({name: SHADOW for name in (
               "numpy.py", "torch.py", "pytest.py", "sitecustomize.py", "usercustomize.py",
               "autograder/__init__.py", "autograder/plugin.py", "mlp/__init__.py",
               "exam/numpy.py")})),
    Threat("patch_numpy", "softmax", at_import=PATCH_NUMPY),
    Threat("patch_torch", "gan", at_import=PATCH_TORCH),
    Threat("lying_object", "cnn", at_call={"flatten": LYING_OBJECT}),
    Threat("ndarray_subclass", "mlp", at_call={"linear": NDARRAY_SUBCLASS}),
    Threat("tensor_subclass", "vae", at_call={"gaussian_kl": TENSOR_SUBCLASS}),
    Threat("object_dtype", "training", at_call={"relu": OBJECT_DTYPE}),
    Threat("pickle_payload", "softmax", at_call={"logsumexp": PICKLE_PAYLOAD}),
    *[Threat(f"{name}_at_import", "gan", at_import=code) for name, code in EXITS.items()],
    *[Threat(f"{name}_at_call", "softmax", at_call={"softmax": code})
      for name, code in EXITS.items()],
    Threat("segfault", "gan", at_call={"generator_loss_nonsaturating": SEGFAULT}),
    Threat("infinite_loop_at_call", "softmax", at_call={"logsumexp": LOOP}),
    Threat("infinite_loop_at_import", "gan", at_import=LOOP),
    Threat("signal_ignoring_loop", "training", at_call={"max_stable_lr": SIGNAL_IGNORING_LOOP}),
    Threat("memory_bomb", "cnn", at_call={"conv_num_params": MEMORY_BOMB}),
    Threat("shared_memory_bomb", "vae", at_call={"vae_generate": SHARED_MEMORY_BOMB},
           needs="cgroup"),
    Threat("fork_bomb", "cnn", at_call={"conv_output_shape": FORK_BOMB}),
    Threat("output_flood", "training", at_call={"glorot_uniform": OUTPUT_FLOOD}),
    Threat("file_size_bomb", "training", at_call={"dead_units": FILE_SIZE_BOMB}),
    Threat("network", "mlp", at_call={"log_softmax": NETWORK}),
    Threat("read_secrets", "vae", at_call={"reparameterize": READ_SECRETS}),
    Threat("kill_parent", "gan", at_call={"generator_loss_saturating": KILL_PARENT}),
    Threat("sysv_persistence", "training", at_import=SYSV_PERSISTENCE, touches=frozenset()),
    Threat("tmp_and_shm_filler", "cnn", at_call={"flatten": TMP_FILLER}),
    Threat("stand_in_memory_bomb", "mlp", at_call={"linear": STAND_IN_MEMORY_BOMB},
           touches=frozenset()),
    Threat("stand_in_cpu_bomb", "mlp", at_call={"nll_loss": STAND_IN_CPU_BOMB}),
    Threat("state_across_questions", "mlp", at_import=STATE_ACROSS_QUESTIONS,
           touches=frozenset()),
    Threat("neighbour_scratch", "softmax", at_call={"softmax": NEIGHBOUR_SCRATCH}),
    Threat("ptrace_and_proc", "mlp", at_call={"nll_loss": PTRACE_AND_PROC}),
    Threat("socket_garbage", "training", at_call={"hinge_loss": SOCKET_GARBAGE}),
    Threat("socket_trickle", "training", at_call={"perceptron_loss": SOCKET_TRICKLE}),
    Threat("lying_exception", "mlp", at_call={"tanh": LYING_EXCEPTION}),
    Threat("order_dependence", "mlp", touches=frozenset(),
           at_call={"linear": LEAK_SET, "sgd_update": LEAK_CHECK}),
    Threat("input_mutation", "training", at_call={"clip_grad_norm": MUTATE_INPUTS}),
    Threat("huge_return", "vae", at_call={"ae_forward": HUGE_RETURN}),
    Threat("deep_nesting", "softmax", at_call={"log_softmax": DEEP_NESTING}),
    Threat("big_int", "cnn", at_call={"dense_num_params": BIG_INT}),
    Threat("symlinked_module", touches=frozenset({"3.1"}), build=linked("softmax", hard=False),
           problem="softmax.py: a link"),
    Threat("hardlinked_module", touches=frozenset({"5.3"}), build=linked("gan", hard=True),
           problem="gan.py: a hard link"),
    Threat("zip_slip", touches=frozenset(), problem="escapes",
           build=archive({"../../@OUTSIDE/zip-slip.py": b"x = 1\n",
                          "zip_slip/../../mlp.py": b"x = 1\n"})),
    Threat("zip_absolute_path", touches=frozenset(), problem="absolute path",
           build=archive({"/@OUTSIDE/mlp.py": b"x = 1\n"})),
    Threat("zip_symlink", touches=frozenset({"5.3"}), problem="a link",
           build=archive(drop="gan", symlink=("zip_symlink/gan.py", "@CANARY_FILE"))),
    Threat("zip_hostile_names", touches=frozenset(), problem="absolute path",
           build=archive({**{f"/{'x' * 2000}/{i}/mlp.py": b"x = 1\n" for i in range(1500)},
                          "\x1b[2J\x1b[H[/][bold green]35/35[/]" + "y" * 60000 + ".py": b""})),
    Threat("zip_bomb", touches=frozenset({"4.1", "4.2"}), problem="cnn.py",
           build=archive({"zip_bomb/cnn.py": ZIP_BOMB, "zip_bomb/data.bin": ZIP_BOMB}, drop="cnn")),
]
