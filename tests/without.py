"""Run a snippet in a fresh interpreter where some optional packages cannot be imported.

Blocking the import (not uninstalling) lets one test run exercise both sides of an
optional dependency: the package's path in-process, the fallback in the subprocess.
"""

import subprocess
import sys
import textwrap

_BLOCKER = """
import importlib.abc, sys
class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is blocked for this test")
        return None
sys.meta_path.insert(0, _Blocked())
"""


def run_without(blocked: set[str], code: str) -> str:
    """Run code with the named top-level packages unimportable; returns stdout, fails with stderr."""
    source = _BLOCKER.format(blocked=set(blocked)) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout
