"""One HiGHS solve, in this process or in a child process the caller can stop.

HiGHS does not check its time limit everywhere: in MIP presolve its dominated-columns
pass ran for 18 minutes past a 20 s limit on res2net50's whole knapsack (780k columns),
and nothing in the Python process can interrupt native code. Large programs are
therefore solved in a child Python process (this file run as a script: it imports only
numpy and scipy, so it starts in under a second) that is killed once the limit and a
grace period have passed; the caller then has no answer from HiGHS, as after a time
limit with no incumbent. Small programs, where starting a process would cost more than
the solve, are solved in this process.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings
from types import SimpleNamespace

if __name__ == "__main__":  # run as a script: its directory holds modules, not packages
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from scipy.optimize import LinearConstraint, milp  # noqa: E402

GRACE_S = 5.0  # past the time limit (and a share of it) before the child is stopped
GRACE_SHARE = 0.5


def solve(program: dict):
    """scipy's milp on `program` (c, integrality, lower, upper, a, lo, hi, options)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "options passed to HiGHS verbatim"
        return milp(program["c"], integrality=program["integrality"],
                    bounds=(program["lower"], program["upper"]),
                    constraints=[LinearConstraint(program["a"], program["lo"], program["hi"])],
                    options=program["options"])


def solve_in_child(program: dict, deadline_s: float | None = None):
    """`solve(program)` in a child process, stopped after `deadline_s` (default: the
    time limit plus the grace); a stopped child gives a result with no `x`, HiGHS's
    status 1 (time limit) and a message saying it was stopped."""
    limit = float(program["options"].get("time_limit", 60.0))
    deadline = limit + GRACE_S + GRACE_SHARE * limit if deadline_s is None else deadline_s
    with tempfile.TemporaryDirectory(prefix="halp_highs_") as tmp:
        given, answer = os.path.join(tmp, "program.pkl"), os.path.join(tmp, "result.pkl")
        with open(given, "wb") as f:
            pickle.dump(program, f, protocol=pickle.HIGHEST_PROTOCOL)
        start = time.perf_counter()
        # HiGHS's native debug prints would go to our streams: the child's go nowhere.
        child = subprocess.Popen([sys.executable, os.path.abspath(__file__), given, answer],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        try:
            _, err = child.communicate(timeout=max(deadline, 0.0))
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            return _stopped(f"HiGHS did not stop at its {limit:g} s time limit; its process "
                            f"was stopped after {time.perf_counter() - start:.1f} s")
        if child.returncode != 0 or not os.path.exists(answer):
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(f"the HiGHS process failed (exit {child.returncode}): {last[0]}")
        with open(answer, "rb") as f:
            return pickle.load(f)


def _stopped(message: str):
    return SimpleNamespace(x=None, status=1, message=message, mip_dual_bound=None, fun=None)


def _main(given: str, answer: str) -> None:
    with open(given, "rb") as f:
        program = pickle.load(f)
    result = solve(program)
    partial = answer + ".part"
    with open(partial, "wb") as f:
        pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, answer)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
