"""The numba cache directory is keyed on the kernel sources, so it can never be stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_cache_dir_follows_kernel_sources(tmp_path):
    code = ("import os, gridlab, numba; from gridlab._numba_cache import kernel_source_hash; "
            "print(os.environ['NUMBA_CACHE_DIR']); print(numba.config.CACHE_DIR); "
            "print(kernel_source_hash())")
    env = {**os.environ, "GRIDLAB_NUMBA_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[1]).stdout.split()
    env_dir, numba_dir, digest = out
    assert env_dir == numba_dir == str(tmp_path / digest)
    assert len(digest) == 16
