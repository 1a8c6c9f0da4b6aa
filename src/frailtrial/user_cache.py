"""The per-user cache directory of frailtrial: what a second run, checkout or reinstall on
the same machine reuses instead of redoing (the MMRM's compiled kernels,
:mod:`frailtrial.stats.kernel_cache`; the demo's migrated empty store,
:mod:`frailtrial.cli.demo`). Everything in it is derived and may be deleted at any time.

The root is ``FRAILTRIAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/frailtrial``, else
``~/.cache/frailtrial``.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The per-user cache directory of frailtrial (see the module docstring)."""
    if os.environ.get("FRAILTRIAL_CACHE_DIR"):
        return Path(os.environ["FRAILTRIAL_CACHE_DIR"]).absolute()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "frailtrial"
