"""Child processes that never outlive their parent: gunicorn's workers and the event worker."""

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid):
    """Have the kernel send this process SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``),
    so a worker never outlives a killed master and keeps its port from the next ``serve``; stop at
    once if the parent is already gone. Elsewhere than Linux, gunicorn's own checks are all there is."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)
