"""The checks' report, shared by deploy/helm/check.py and deploy/check.py: one line per check,
then "<name>: N passed, M failed"."""

counts = {"passed": 0, "failed": 0}


def report(ok: bool, what: str, problem: str = "") -> None:
    if ok:
        counts["passed"] += 1
        print(f"ok    {what}")
    else:
        counts["failed"] += 1
        print(f"FAIL  {what}: {' '.join(problem.split())}")  # one line, however long


def finish(name: str) -> int:
    """Prints the totals; the exit code: 1 if any check failed."""
    print(f"{name}: {counts['passed']} passed, {counts['failed']} failed")
    return 1 if counts["failed"] else 0
