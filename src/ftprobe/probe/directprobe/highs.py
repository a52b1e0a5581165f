"""HiGHS instances as ftprobe uses them: silent and on one thread.

HiGHS sets up its thread pool once per process, and an instance asking for another number of
threads afterwards fails every run; so every LP and QP of ftprobe comes from here.
"""

from __future__ import annotations

import os

_BANNER_DONE = False


def new_highs():
    """A silent HiGHS instance (the one-time banner goes to /dev/null, not to our stdout)."""
    global _BANNER_DONE
    import highspy

    if not _BANNER_DONE:
        fd = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            h = highspy.Highs()
        finally:
            os.dup2(fd, 1)
            os.close(fd)
            os.close(devnull)
        _BANNER_DONE = True
    else:
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    return h
