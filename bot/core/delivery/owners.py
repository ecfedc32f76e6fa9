"""Who holds a claim: a name per process, and whether that process is gone.

A claim (an outbox row being sent, a digest run being built) names its holder as
`host:pid:token`. The token tells apart several dispatchers in one process. When
the holder ran on this host and its pid no longer exists, the claim can be taken
back at once instead of waiting for its lease: that is what makes a restart after
`kill -9` pick up where the dead process stopped. Holders on other hosts (several
instances sharing PostgreSQL) are only recovered when their lease runs out. A pid
reused by an unrelated process only delays recovery until the lease ends; it never
makes Cohort send twice.
"""

from __future__ import annotations

import os
import secrets
import socket

HOST = socket.gethostname()


def process_name() -> str:
    """The name of this process, `host:pid` (in run claims and logs)."""
    return f"{HOST}:{os.getpid()}"


def new_holder() -> str:
    """A fresh holder name for one dispatcher in this process: `host:pid:token`."""
    return f"{process_name()}:{secrets.token_hex(4)}"


def is_dead(holder: str | None) -> bool:
    """Whether `holder` names a process on this host that no longer exists.

    False when unsure: another host, a name not in the `host:pid[:token]` form, or a
    process we may not signal (it exists).
    """
    if not holder:
        return False
    host, _, rest = holder.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A child killed but not yet reaped still has a pid; on Linux its state is `Z`."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()
    return bool(state) and state[0] in {"Z", "X"}
