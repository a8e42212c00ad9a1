"""Owner-only state files when alprd is run by hand.

The database, crops, spool, stats and logs hold personal data (plates). systemd runs alprd with
`UMask=0027`: files are group-readable for operators in the `alprd` group, never world-readable.
By hand a shell's usual umask (022) would make them world-readable (0644), so a umask that lets
others read is tightened to 077 (files 0600, directories 0700) before anything is created. A umask
that already keeps others out (systemd's 0027, or an operator's own choice) is left as it is.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

OWNER_ONLY = 0o077


def restrict_umask() -> int:
    """Tighten the process umask if it lets other users read what we create; returns the umask now
    in force. Child processes inherit it."""
    old = os.umask(OWNER_ONLY)
    if old & 0o007 == 0o007:  # others already kept out: keep the operator's (or the unit's) choice
        os.umask(old)
        return old
    log.debug("umask %03o lets other users read state files; using %03o", old, OWNER_ONLY)
    return OWNER_ONLY
