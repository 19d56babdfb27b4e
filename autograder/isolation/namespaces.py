"""Linux namespaces, mounts and privileges, through libc: the system calls a sandboxed child uses.

Everything here is a thin, checked wrapper around one system call (an OSError names the call
that failed), plus `why_unavailable`, which tries the whole recipe once in a throw-away process
and says in one line why it cannot work on this machine.
"""
from __future__ import annotations

import ctypes
import os
import platform
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
ISOLATED = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
# System calls glibc has no wrapper for, by machine.
SYSCALLS = {"x86_64": {"pivot_root": 155, "capset": 126},
            "aarch64": {"pivot_root": 41, "capset": 91}}

_libc = ctypes.CDLL(None, use_errno=True)


def _checked(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _syscall(name: str, *args) -> int:
    numbers = SYSCALLS.get(platform.machine())
    if numbers is None:
        raise OSError(f"no system call table for {platform.machine()}")
    return _libc.syscall(numbers[name], *args)


def unshare(flags: int) -> None:
    _checked(_libc.unshare(flags), "unshare")


def enter_user_namespace() -> None:
    """A new user namespace in which this process is root, mapped to its own uid and gid
    outside: it may then create the other namespaces and mount in them, and nothing more."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER)
    for file, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{file}", "w") as f:
            f.write(text)


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0,
          data: str | None = None) -> None:
    encode = lambda s: None if s is None else s.encode()          # noqa: E731
    _checked(_libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)),
             f"mount {source or fstype} on {target}")


def bind_read_only(source: str, target: str) -> None:
    """Bind `source` at `target`, read-only, with no set-uid programs and no devices."""
    mount(source, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def pivot_root(new_root: str, put_old: str) -> None:
    _checked(_syscall("pivot_root", new_root.encode(), put_old.encode()), "pivot_root")


def detach(target: str) -> None:
    _checked(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def prctl(option: int, value: int) -> None:
    _checked(_libc.prctl(option, value, 0, 0, 0), f"prctl({option})")


def drop_capabilities() -> None:
    """No capability left, in any set, for this process or anything it starts (used where the
    child is root of its own user namespace: root there must be powerless)."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for capability in range(last + 1):
        prctl(PR_CAPBSET_DROP, capability)
    header = struct.pack("Ii", 0x20080522, 0)          # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(bytes(24))      # two empty {effective, permitted, inheritable}
    _checked(_syscall("capset", ctypes.c_char_p(header), data), "capset")


def why_unavailable() -> str | None:
    """None when a child can get its namespaces here, else one line saying why not (tried in a
    throw-away process, exactly as a child would: user namespace first when not root)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            if os.geteuid() != 0:
                enter_user_namespace()
            unshare(ISOLATED)
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            message = b""
        except BaseException as error:   # noqa: BLE001 - reported, never raised
            message = str(error).encode()[:500] or b"failed"
        os.write(write, message)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        reason = f.read().decode(errors="replace")
    os.waitpid(pid, 0)
    if not reason:
        return None
    if os.geteuid() != 0:
        return (f"unprivileged user namespaces are not available here ({reason}); enable them "
                f"(sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu "
                f"kernel.apparmor_restrict_unprivileged_userns=0), grade as root, or grade in "
                f"otter's containers")
    return (f"this root process may not create namespaces ({reason}): a container without "
            f"CAP_SYS_ADMIN or with a seccomp filter")
