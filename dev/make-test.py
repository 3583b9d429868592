#!/usr/bin/env python3
"""`make test`: every check, as CI runs it, with progress and timings.

    make test                    # python3 dev/make-test.py
    make test SKIP=browser       # leave steps out on purpose (comma-separated names)
    make test KEEP_GOING=1       # run every step even after one fails

1. Checks the prerequisites (dev/prereqs.py test) and names anything missing.
2. Starts the installs that only wait on the network in the background:
   the Python venv (dev/bootstrap-venv.sh test), `npm ci` for contract/ and,
   as root on Debian/Ubuntu, apt-get for Chromium (and python3-venv). Their
   output goes to test-artifacts/make-test/<name>.log.
3. Runs the steps one after another (each is also `make <step>`), each
   waiting first for the installs it needs, printing `[3/7] e2e ...` and
   `[3/7] e2e done in 1m52s, 6m10s so far`. The first failing step stops
   the run (unless KEEP_GOING=1). Step and install durations go to
   test-artifacts/make-test-times.txt.

The last line says what happened: all passed, which step failed, and any
step skipped on request. A browser test that did not run never reads as passed.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "dev"))
import prereqs  # noqa: E402

ARTIFACTS = REPO / "test-artifacts"
LOGS = ARTIFACTS / "make-test"
TIMES = ARTIFACTS / "make-test-times.txt"
CONTRACT = REPO / "contract"

# (step, the installs it waits for). Each step is `make <step>`.
STEPS = [
    ("lint", []),
    ("unit", ["venv"]),  # the Rust integration tests start .venv/bin/moto_server
    ("e2e", ["venv"]),
    ("contract", ["npm"]),
    ("browser", ["apt", "venv"]),
    ("deploy-checks", ["venv"]),
    ("bench-quick", ["venv"]),
]


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def cpu_seconds() -> float:
    """CPU time (user + system) of our finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    """The 1-minute load average (other work on the machine slows the steps)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def say(message: str) -> None:
    print(f"make test: {message}", flush=True)


class Install:
    """A background install: a command with its output in LOGS/<name>.log,
    started after the installs in `after` have succeeded."""

    def __init__(self, name: str, argv: list[str], cwd: Path = REPO, after: list["Install"] = ()):
        self.name, self.argv, self.cwd, self.after = name, argv, cwd, list(after)
        self.log = LOGS / f"{name}.log"
        self.rc: int | None = None
        self.seconds = 0.0
        self.proc: subprocess.Popen | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Install":
        self.thread.start()
        return self

    def _run(self) -> None:
        for other in self.after:
            if other.wait() != 0:
                with open(self.log, "w") as log:
                    log.write(f"not run: {other.name} failed\n")
                self.rc = 1
                return
        started = time.monotonic()
        with open(self.log, "w") as log:
            log.write(f"$ {' '.join(self.argv)}\n")
            log.flush()
            try:
                self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
                self.rc = self.proc.wait()
            except OSError as e:
                log.write(f"{e}\n")
                self.rc = 127
        self.seconds = time.monotonic() - started

    def wait(self) -> int:
        self.thread.join()
        return self.rc if self.rc is not None else 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
            except ProcessLookupError:
                pass

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def npm_install_needed() -> bool:
    """contract/run.sh runs `npm ci` itself when node_modules is missing or
    older than the lock file; the same test, so that it finds it done."""
    stamp = CONTRACT / "node_modules" / ".contract-installed"
    prism = CONTRACT / "node_modules" / ".bin" / "prism"
    spec = CONTRACT / "node_modules/@twilio-alpha/mcp/twilio-oai/spec/json/twilio_conversations_v1.json"
    lock_sum = hashlib.sha256((CONTRACT / "package-lock.json").read_bytes()).hexdigest()
    current = stamp.read_text().strip() if stamp.exists() else ""
    return not (os.access(prism, os.X_OK) and spec.exists() and current == lock_sum)


def start_installs(apt_packages: list[str], skip: set[str]) -> dict[str, Install]:
    LOGS.mkdir(parents=True, exist_ok=True)
    installs: dict[str, Install] = {}
    if apt_packages:
        installs["apt"] = Install("apt", [sys.executable, "dev/prereqs.py", "apt-install", *apt_packages]).start()
    needs_venv = {name for name, needs in STEPS if "venv" in needs} - skip
    if needs_venv:
        after = [installs["apt"]] if "python3-venv" in apt_packages else []
        installs["venv"] = Install("venv", ["bash", "dev/bootstrap-venv.sh", "test"], after=after).start()
    if "contract" not in skip and npm_install_needed():
        lock_sum = hashlib.sha256((CONTRACT / "package-lock.json").read_bytes()).hexdigest()
        script = (
            "npm ci --ignore-scripts --no-audit --no-fund --loglevel=error"
            f" && echo {lock_sum} > node_modules/.contract-installed"
        )
        installs["npm"] = Install("npm", ["bash", "-c", script], cwd=CONTRACT).start()
    for install in installs.values():
        say(f"installing in the background if needed: {install.name} (log: {install.log.relative_to(REPO)})")
    return installs


def main(argv: list[str]) -> int:
    keep_going = os.environ.get("KEEP_GOING", "") not in ("", "0")
    skip: set[str] = set()
    if argv[:1] == ["--skip"]:
        skip = {s for s in ",".join(argv[1:]).replace(" ", ",").split(",") if s}
    names = [name for name, _ in STEPS]
    unknown = sorted(skip - set(names))
    if unknown:
        say(f"SKIP={','.join(unknown)}: no such step (steps: {', '.join(names)})")
        return 2

    started = time.monotonic()
    findings = prereqs.findings_for("test", skip)
    if not prereqs.report("test", findings):
        if any(f.what.startswith("Chromium") and not f.ok and not f.auto for f in findings):
            say("to leave the browser test out on purpose: make test SKIP=browser")
        say("FAILED: missing prerequisites (above)")
        return 1

    ARTIFACTS.mkdir(exist_ok=True)
    installs = start_installs(prereqs.missing_apt_packages(findings), skip)
    times: list[str] = []
    failed: list[str] = []
    total = len(STEPS)
    result = "not finished"
    try:
        for number, (name, needs) in enumerate(STEPS, 1):
            tag = f"[{number}/{total}] {name}"
            if name in skip:
                say(f"{tag} skipped on request (SKIP={','.join(sorted(skip))})")
                times.append(f"{name:<14} skipped")
                continue
            step_started, step_cpu = time.monotonic(), cpu_seconds()
            problem = None
            for need in needs:
                install = installs.get(need)
                if install is None:
                    continue
                install.thread.join(timeout=1)
                if install.thread.is_alive():
                    say(f"{tag} waiting for the {need} install...")
                if install.wait() != 0:
                    print(install.tail(), flush=True)
                    what = "Chromium (apt-get install chromium chromium-driver)" if need == "apt" else need
                    problem = f"the {what} install failed (log: {install.log.relative_to(REPO)})"
                    break
            if problem is None:
                say(f"{tag} ...")
                rc = subprocess.run(["make", "--no-print-directory", name], cwd=REPO).returncode
                if rc != 0:
                    problem = f"`make {name}` exited with {rc}"
            now = time.monotonic()
            status = "done" if problem is None else f"FAILED: {problem};"
            say(f"{tag} {status} in {duration(now - step_started)}, {duration(now - started)} so far")
            times.append(
                f"{name:<14} {now - step_started:7.1f} s   cpu {cpu_seconds() - step_cpu:6.1f} s   load {load():>4}"
                + ("" if problem is None else "   FAILED")
            )
            if problem is not None:
                failed.append(name)
                if not keep_going:
                    break
        result = "passed" if not failed else "failed: " + ", ".join(failed)
    except KeyboardInterrupt:
        failed.append("interrupted")
        result = "interrupted"
    finally:
        for install in installs.values():
            if install.name != "apt":  # never interrupt dpkg: let apt-get finish on its own
                install.stop()
        elapsed = time.monotonic() - started
        lines = [f"# make test, {time.strftime('%Y-%m-%d %H:%M:%S')}, {result}; {os.cpu_count()} cores",
                 "# step         wall time    CPU time of its processes    1-minute load at its end"] + times
        lines += [f"{'total':<14} {elapsed:7.1f} s"]
        lines += [f"(background) {i.name:<8} {i.seconds:7.1f} s  rc={i.rc}" for i in installs.values()]
        TIMES.write_text("\n".join(lines) + "\n")

    if failed:
        later = STEPS[names.index(failed[-1]) + 1:] if failed[-1] in names and not keep_going else []
        not_run = [n for n, _ in later if n not in skip]
        tail = f"; not run: {', '.join(not_run)}" if not_run else ""
        say(f"FAILED ({', '.join(failed)}) after {duration(elapsed)}{tail} (step times: {TIMES.relative_to(REPO)})")
        return 1
    ran = total - len(skip)
    if skip:
        skipped = [f"the {s} test" if s == "browser" else f"the {s} step" for s in names if s in skip]
        if len(skipped) == 1:
            said = f"{skipped[0]} was skipped on request"
        else:
            said = f"skipped on request: {', '.join(skipped)}"
        say(f"{ran} of {total} checks passed in {duration(elapsed)}; {said} (SKIP={','.join(sorted(skip))})")
    else:
        say(f"all {total} checks passed in {duration(elapsed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
