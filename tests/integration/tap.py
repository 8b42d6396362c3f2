"""A small TAP producer for the integration tests: each test is a function; a failed assertion
fails that test only, a test that raises Skip("why") reports `ok N - name # SKIP why` (a skip,
never a pass), and the plan is printed at the end."""
import os
import subprocess
import sys
import tempfile
import traceback

_tests = []


class Skip(Exception):
    """Raised by a test that cannot run here; its message says why."""


def test(fn):
    _tests.append(fn)
    return fn


def run_all():
    n = 0
    failed = 0
    for fn in _tests:
        n += 1
        try:
            fn()
            print(f"ok {n} - {fn.__name__}", flush=True)
        except Skip as why:
            print(f"ok {n} - {fn.__name__} # SKIP {why}", flush=True)
        except Exception:  # a failed test reports and the others go on
            failed += 1
            print(f"not ok {n} - {fn.__name__}", flush=True)
            for line in traceback.format_exc().splitlines():
                print(f"# {line}", flush=True)
    print(f"1..{n}", flush=True)
    sys.exit(1 if failed else 0)


def run(argv, check=True, env=None, **kw):
    """Runs ARGV, returns CompletedProcess with text output."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(argv, capture_output=True, text=True, env=e, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{argv} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def eq(got, want, what=""):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def tmpdir(prefix="nctk-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d
