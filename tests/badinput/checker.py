"""Run bad-input cases through the real `npd run` and check the contract of issue 13.

Each case gets a fresh NPD_HOME with a development key made by `npd key init`, its landing
files, the entries that are not regular files (links, FIFOs, sockets) and, beside the home,
an `outside` folder holding a random secret. Then `npd run FEED --year Y [--term T]` runs in
a subprocess (its peak RSS taken from wait4), and the checker asserts:

1. no crash: exit 0 (loaded) or the blocked exit with our own message; no traceback, no
   "details withheld", no timeout (a FIFO or device that was opened would hang);
2. every entry of the partition's landing folder is in stage_report.json files[] with a
   status of ok, rejected, missing or unused, and each refusal's message names the file;
3. for every account rows_read = rows_staged + rows_quarantined; a rejected file stages
   nothing; quarantine.parquet and warnings.parquet hold exactly the rows the accounts count,
   each with _source_file, _source_row and its reason or warning;
4. the rows the manifest names are quarantined or warned with a reason opening with the
   field, and (strict cases) no other row is;
5. the outcome (loaded, blocked, refused) and the words the message must hold;
7. no byte of the secret anywhere under NPD_HOME (Parquet and DuckDB files are read, not
   only scanned) nor in anything printed; hostile cases under 1 GB of peak memory;
8. a rerun that blocks keeps what was loaded (its stage report and the warehouse's rows);
9. no CSV the pipeline wrote (quarantine export, extracts, anything under NPD_HOME) holds a
   text cell that a spreadsheet would run as a formula.

    python -m tests.badinput.checker CORPUS [--only NAME ...] [--jobs N] [--work DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tests.badinput.corpus import FEEDS, ITEMS, OUTSIDE, SECRET, iter_manifests

STATUSES = ("ok", "rejected", "missing", "unused")
GIB = 1 << 30
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
TIMEOUT = 900


@dataclass
class Run:
    """One npd command: how it ended, what it printed, its time and peak memory."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int  # bytes, from wait4
    timed_out: bool = False

    def json(self) -> dict[str, Any] | None:
        text = self.stdout.strip()
        start = text.find("{")
        if start < 0:
            return None
        try:
            return json.loads(text[start:])
        except json.JSONDecodeError:
            return None


@dataclass
class CaseResult:
    name: str
    feed: str
    items: list[int]
    kind: str
    hostile: bool
    status: str | None = None  # loaded | blocked | failed | None (no JSON)
    message: str | None = None
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    peak_rss: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "feed": self.feed,
            "items": self.items,
            "kind": self.kind,
            "hostile": self.hostile,
            "status": self.status,
            "message": self.message,
            "passed": self.passed,
            "failures": self.failures,
            "seconds": round(self.seconds, 2),
            "peak_rss_mb": round(self.peak_rss / 2**20, 1),
        }


def npd_command() -> list[str]:
    """The real CLI: the `npd` script beside this Python, or `python -m npd.cli`."""
    script = Path(sys.executable).with_name("npd")
    return [str(script)] if script.exists() else [sys.executable, "-m", "npd.cli"]


# A small process between the checker and the command: it forks the command and reports the
# command's own peak RSS from wait4. Measured from the checker itself, ru_maxrss would start at
# the checker's size (Linux carries the parent's high-water mark into a child across fork and
# exec), so a big test process would inflate every figure.
_LAUNCHER = """
import os, sys
out, cmd = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(out, "w") as fh:
    fh.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_command(
    command: list[str], env: dict[str, str], cwd: Path, out: Path, timeout: float
) -> Run:
    """Run a command in its own session, output to files; its peak RSS from wait4 (taken by
    a small launcher process, see _LAUNCHER); killed with its session on timeout."""
    out.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path, rss_path = out / "stdout", out / "stderr", out / "maxrss"
    rss_path.unlink(missing_ok=True)
    started = time.perf_counter()
    with stdout_path.open("wb") as so, stderr_path.open("wb") as se:
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, str(rss_path), *command],
            stdout=so,
            stderr=se,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
    seconds = time.perf_counter() - started
    try:
        peak = int(rss_path.read_text()) * 1024
    except (OSError, ValueError):
        peak = 0
    return Run(
        args=command,
        returncode=proc.returncode,
        stdout=stdout_path.read_text(encoding="utf-8", errors="replace"),
        stderr=stderr_path.read_text(encoding="utf-8", errors="replace"),
        seconds=seconds,
        peak_rss=peak,
        timed_out=timed_out.is_set(),
    )


class Checker:
    """Runs cases in fresh homes under `work` and checks them."""

    def __init__(
        self,
        work: Path,
        *,
        npd: list[str] | None = None,
        timeout: float = TIMEOUT,
        keep: str = "failed",  # keep each case's home: all | failed | none
        fallback: str = "none",
    ):
        self.work = work
        self.work.mkdir(parents=True, exist_ok=True)
        self.npd = npd or npd_command()
        self.timeout = timeout
        self.keep = keep
        self.fallback = fallback
        self.secret = "NPDSECRET" + secrets.token_hex(12).upper()
        self._key_home = self.work / ".key"
        self._sockets = self.work / ".s"
        self._lock = threading.Lock()
        self._key: Path | None = None

    # environment -------------------------------------------------------------------------

    def env(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NPD_")}
        for name in ("NPD_THREADS", "NPD_DUCKDB_MEMORY"):
            if name in os.environ:
                env[name] = os.environ[name]
        env.update(
            NPD_HOME=str(home),
            NPD_LOCK_TIMEOUT="120",
            NPD_LINKAGE_FALLBACK=self.fallback,
        )
        return env

    def key(self) -> Path:
        """A development key made once by `npd key init`, copied into every home."""
        with self._lock:
            if self._key is None:
                shutil.rmtree(self._key_home, ignore_errors=True)
                self._key_home.mkdir(parents=True)
                done = run_command(
                    [*self.npd, "key", "init"],
                    self.env(self._key_home),
                    self._key_home,
                    self._key_home / "out",
                    300,
                )
                secrets_dir = self._key_home / "secrets"
                if done.returncode or not secrets_dir.is_dir():
                    raise RuntimeError(f"npd key init failed: {done.stderr.strip()[-2000:]}")
                self._key = secrets_dir
            return self._key

    def npd_run(self, manifest: dict[str, Any], home: Path, out: Path) -> Run:
        args = ["run", manifest["feed"], "--year", manifest["year"]]
        if manifest.get("term"):
            args += ["--term", manifest["term"]]
        return run_command([*self.npd, *args], self.env(home), home.parent, out, self.timeout)

    # preparing a case -----------------------------------------------------------------------

    def prepare(
        self, case_dir: Path, manifest: dict[str, Any], work: Path, landing_from: str
    ) -> Path:
        home = work / "home"
        outside = work / "outside"
        if home.exists():
            shutil.rmtree(home)
        home.mkdir(parents=True)
        outside.mkdir(exist_ok=True)
        shutil.copytree(self.key(), home / "secrets")
        (outside / "secret.txt").write_text(self.secret + "\n", encoding="utf-8")
        for name, text in (manifest.get("outside") or {}).items():
            path = outside / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                text.replace(SECRET, self.secret).replace(OUTSIDE, str(outside)),
                encoding="utf-8",
            )
        landing = home / "landing"
        shutil.copytree(case_dir / landing_from, landing, symlinks=True)
        for name in manifest.get("templated") or []:
            path = landing / name
            data = path.read_bytes().replace(OUTSIDE.encode(), str(outside).encode())
            path.write_bytes(data.replace(SECRET.encode(), self.secret.encode()))
        if landing_from == "landing":
            for special in manifest.get("specials") or []:
                self._make_special(landing, outside, special)
        return home

    def _make_special(self, landing: Path, outside: Path, special: dict[str, Any]) -> None:
        path = landing / special["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        kind, target = special["kind"], special.get("target")
        if kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "socket":
            self._sockets.mkdir(exist_ok=True)
            short = self._sockets / secrets.token_hex(4)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(str(short))
            finally:
                sock.close()
            os.rename(short, path)
        elif kind == "symlink":
            assert target is not None
            if target.startswith(OUTSIDE):
                link = str(outside) + target[len(OUTSIDE) :]
            elif target.startswith("relative:"):
                link = os.path.relpath(outside / target.split(":", 1)[1], path.parent)
            elif target.startswith("relative-sibling:"):
                link = target.split(":", 1)[1]
            else:
                link = target
            os.symlink(link, path)
        else:
            raise ValueError(f"unknown special entry kind {kind!r}")

    # running a case ---------------------------------------------------------------------------

    def run_case(self, case_dir: Path) -> CaseResult:
        manifest = json.loads((case_dir / "manifest.json").read_text(encoding="utf-8"))
        result = CaseResult(
            name=manifest["name"],
            feed=manifest["feed"],
            items=manifest["items"],
            kind=manifest["kind"],
            hostile=manifest["hostile"],
        )
        work = self.work / manifest["name"]
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        runs: list[Run] = []
        try:
            self._run(case_dir, manifest, work, result, runs)
        except Exception as exc:  # the checker's own failure is the case's failure too
            result.failures.append(f"checker: {type(exc).__name__}: {exc}")
        if (result.passed and self.keep != "all") or self.keep == "none":
            shutil.rmtree(work, ignore_errors=True)
        return result

    def _run(
        self,
        case_dir: Path,
        manifest: dict[str, Any],
        work: Path,
        result: CaseResult,
        runs: list[Run],
    ) -> None:
        before: dict[str, Any] | None = None
        if manifest.get("before"):
            home = self.prepare(case_dir, manifest, work, "before")
            first = self.npd_run(manifest, home, work / "first")
            runs.append(first)
            info = first.json() or {}
            if info.get("status") != "loaded":
                result.failures.append(
                    f"rerun: the first load did not load ({info.get('status')}: {info.get('message')})"
                )
                return
            before = _loaded_state(home, manifest)
            shutil.rmtree(home / "landing")
            shutil.copytree(case_dir / "landing", home / "landing", symlinks=True)
        else:
            home = self.prepare(case_dir, manifest, work, "landing")
        run = self.npd_run(manifest, home, work / "run")
        runs.append(run)
        result.seconds, result.peak_rss = run.seconds, run.peak_rss
        info = run.json()
        if info:
            result.status, result.message = info.get("status"), info.get("message")
        fail = result.failures.append
        crashed = _crash(run, info)
        if crashed:
            fail(crashed)
        if manifest["hostile"] and run.peak_rss > GIB:
            fail(f"peak RSS {run.peak_rss / 2**20:,.0f} MB is over 1 GB")
        staged = None
        if before is not None:
            fail_all(fail, _rerun_kept(home, manifest, before))
        elif not crashed:
            report = _report_path(home, manifest)
            if report.exists():
                found, staged = check_report(home, manifest, report)
                fail_all(fail, found)
            elif manifest["outcome"] != "refused":
                fail(f"no stage report at {report.relative_to(home)}")
        # The manifest's expectations, or one of its variants' (taken whole, never mixed)
        outcomes = []
        for m in [manifest, *(with_variant(manifest, v) for v in manifest.get("variants") or [])]:
            problems = _outcome(m, run, info)
            if staged is not None and before is None:
                problems += check_files(staged, m)
            outcomes.append(problems)
            if not problems:
                break
        if all(outcomes):
            fail_all(fail, outcomes[0])
        if manifest.get("extract") and result.status == "loaded":
            fail_all(fail, self._extract(manifest, home, work, runs))
        if manifest.get("quarantine_csv") and _report_path(home, manifest).exists():
            fail_all(fail, self._quarantine_csv(manifest, home, work, runs))
        fail_all(fail, csv_cells(home))
        fail_all(fail, self.secret_leaks(home, runs))

    def _extract(
        self, manifest: dict[str, Any], home: Path, work: Path, runs: list[Run]
    ) -> list[str]:
        spec = manifest["extract"]
        args = [
            "extract",
            "--recipient",
            "bad-input corpus",
            "--purpose",
            spec["purpose"],
            "--tier",
            str(spec["tier"]),
            "--destroy-by",
            "2030-12-31",
            "--year",
            manifest["year"],
        ]
        for column in spec["columns"]:
            args += ["--column", column]
        done = run_command([*self.npd, *args], self.env(home), work, work / "extract", self.timeout)
        runs.append(done)
        problems = [f"extract: {p}" for p in [_crash(done, None, False)] if p]
        if done.returncode:
            return [*problems, f"extract failed: {(done.stderr or done.stdout).strip()[-500:]}"]
        cells = [c for f in (home / "releases").rglob("*.csv") for row in _csv_rows(f) for c in row]
        for value in spec.get("planted", []):
            want = value.strip()
            if not any(c.startswith("'") and c[1:] == want for c in cells):
                problems.append(f"extract: the planted value {want!r} is not in it, neutralised")
        return problems

    def _quarantine_csv(
        self, manifest: dict[str, Any], home: Path, work: Path, runs: list[Run]
    ) -> list[str]:
        target = work / "quarantine.csv"
        args = ["quarantine", manifest["feed"], "--year", manifest["year"]]
        if manifest.get("term"):
            args += ["--term", manifest["term"]]
        done = run_command(
            [*self.npd, *args, "--csv", str(target)],
            self.env(home),
            work,
            work / "qcsv",
            self.timeout,
        )
        runs.append(done)
        problems = [f"quarantine --csv: {p}" for p in [_crash(done, None, False)] if p]
        if done.returncode or not target.exists():
            return [
                *problems,
                f"npd quarantine --csv failed: {(done.stderr or done.stdout).strip()[-300:]}",
            ]
        return problems + [f"quarantine --csv: {p}" for p in _dangerous_cells(target)]

    # the secret -------------------------------------------------------------------------------

    def secret_leaks(self, home: Path, runs: Iterable[Run]) -> list[str]:
        """Every place under the home (and every output) where the secret appears."""
        needles = _needles(self.secret)
        found = []
        for run in runs:
            for name, text in (("stdout", run.stdout), ("stderr", run.stderr)):
                if any(n in text.encode("utf-8", "replace").lower() for n in needles):
                    found.append(
                        f"the secret is in the {name} of `npd {' '.join(run.args[len(self.npd) :][:2])}`"
                    )
        for path in _regular_files(home):
            where = path.relative_to(home).as_posix()
            if _file_holds(path, needles):
                found.append(f"the secret is in {where}")
            elif path.suffix == ".parquet" and _parquet_holds(path, self.secret):
                found.append(f"the secret is in {where} (a Parquet value)")
            elif path.suffix == ".duckdb" and _duckdb_holds(path, self.secret):
                found.append(f"the secret is in {where} (a DuckDB value)")
        return found


def fail_all(fail: Callable[[str], None], problems: Iterable[str]) -> None:
    for p in problems:
        fail(p)


# -- crash and outcome ---------------------------------------------------------------------------


def _crash(run: Run, info: dict[str, Any] | None, expect_json: bool = True) -> str | None:
    if run.timed_out:
        return f"timed out after {run.seconds:.0f} s (something blocked: a FIFO or device opened?)"
    text = run.stdout + run.stderr
    if "Traceback (most recent call last)" in text:
        tail = run.stderr.strip().splitlines()[-1:] or [""]
        return f"crash: a traceback ({tail[0][:200]})"
    if "details withheld" in text:
        return f"crash: an exception we do not own ({_first(text, 'details withheld')})"
    if run.returncode not in (0, 1):
        return f"crash: exit code {run.returncode}"
    if expect_json and info is None:
        return "crash: `npd run` printed no JSON outcome"
    return None


def _first(text: str, word: str) -> str:
    for line in text.splitlines():
        if word in line:
            return line.strip()[:240]
    return ""


def _outcome(manifest: dict[str, Any], run: Run, info: dict[str, Any] | None) -> list[str]:
    if info is None:
        return []
    status, message = info.get("status"), info.get("message") or ""
    want = manifest["outcome"]
    problems = []
    if (status == "loaded" and run.returncode != 0) or (status != "loaded" and run.returncode == 0):
        problems.append(f"exit code {run.returncode} with status {status}")
    ok = {
        "loaded": status == "loaded",
        "blocked": status == "blocked",
        "refused": status in ("blocked", "failed") and bool(message),
        "any": status in ("loaded", "blocked", "failed"),
    }[want]
    if not ok:
        problems.append(f"expected {want}, got {status}: {message[:300]}")
    if status != "loaded":
        if not message.strip():
            problems.append("a run that did not load says nothing about why")
        lowered = message.lower()
        for word in manifest.get("message") or []:
            if word.lower() not in lowered:
                problems.append(f"the message does not name {word!r}: {message[:300]}")
        head = lowered[:250]
        for word in manifest.get("root_cause") or []:
            if word.lower() not in head:
                problems.append(
                    f"the message does not open with the root cause ({word!r}): {message[:300]}"
                )
    return problems


# -- the stage report -----------------------------------------------------------------------------


def _partition_parts(manifest: dict[str, Any]) -> tuple[str, str]:
    from core.periods import AcademicYear

    return AcademicYear.parse(manifest["year"]).slug, manifest.get("term") or "annual"


def _report_path(home: Path, manifest: dict[str, Any]) -> Path:
    slug, term = _partition_parts(manifest)
    return home / "staging" / manifest["feed"] / slug / term / "stage_report.json"


def _period_dir(home: Path, manifest: dict[str, Any]) -> Path:
    slug, _ = _partition_parts(manifest)
    base = home / "landing" / slug / manifest["feed"]
    return base / manifest["term"] if manifest.get("term") else base


def landing_entries(home: Path, manifest: dict[str, Any]) -> list[str]:
    """Every entry of the partition's landing folder that must be accounted for: files,
    links (to files or folders), FIFOs and sockets, at any depth; never following links."""
    landing = home / "landing"
    top = _period_dir(home, manifest)
    if not top.is_dir() or top.is_symlink():
        return []
    found = []
    for folder, dirs, files in os.walk(top, followlinks=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            found.append(Path(folder, name).relative_to(landing).as_posix())
    return sorted(found)


def _name_forms(name: str) -> set[str]:
    raw = name.encode("utf-8", "surrogateescape")
    return {
        name,
        raw.decode("utf-8", "replace"),
        raw.decode("utf-8", "backslashreplace"),
        raw.decode("latin-1"),
        ascii(name)[1:-1],
    }


def check_report(
    home: Path, manifest: dict[str, Any], report_path: Path
) -> tuple[list[str], _Staged]:
    """Items 2 and 3 against the stage report, quarantine and warnings of the run: every
    entry accounted for, every account balanced and matched by its quarantined rows."""
    problems: list[str] = []
    report = json.loads(report_path.read_text(encoding="utf-8"))
    accounts = report.get("files", [])
    by_file: dict[str, list[dict[str, Any]]] = {}
    for a in accounts:
        by_file.setdefault(a["source_file"], []).append(a)
    known = {form: name for name in by_file for form in _name_forms(name)}

    entries = landing_entries(home, manifest)
    resolved: dict[str, str] = {}
    for entry in entries:
        match = next((known[f] for f in _name_forms(entry) if f in known), None)
        if match is None:
            problems.append(f"{_show(entry)} is in the landing folder but not in the stage report")
        else:
            resolved[entry] = match

    for a in accounts:
        where = f"{_show(a['source_file'])} [{a.get('table')}]"
        if a.get("status") not in STATUSES:
            problems.append(f"{where}: status {a.get('status')!r} is not one of {STATUSES}")
        if a["rows_read"] != a["rows_staged"] + a["rows_quarantined"]:
            problems.append(
                f"{where}: rows read {a['rows_read']} != staged {a['rows_staged']} + quarantined {a['rows_quarantined']}"
            )
        if min(a["rows_read"], a["rows_staged"], a["rows_quarantined"]) < 0:
            problems.append(f"{where}: a negative count")
        if a.get("status") == "rejected" and a["rows_staged"] and not _kept_before_fault(a):
            problems.append(f"{where}: rejected, yet {a['rows_staged']} rows staged")
        if a.get("status") in ("rejected", "unused", "missing"):
            messages = " ".join(a.get("messages") or [])
            if not messages.strip():
                problems.append(f"{where}: {a['status']} without a message saying why")
            else:
                stem = a["source_file"].rsplit("/", 1)[-1].strip("<>")
                if not any(f in messages for f in _name_forms(stem)) and stem not in messages:
                    problems.append(f"{where}: its message does not name it: {messages[:200]}")

    folder = report_path.parent
    quarantine = _rows(folder / "quarantine.parquet", "reason")
    warnings = _rows(folder / "warnings.parquet", "warning")
    problems += _lineage(quarantine, "quarantine.parquet", "reason")
    problems += _lineage(warnings, "warnings.parquet", "warning")
    q_count: dict[tuple[str, str], int] = {}
    for r in quarantine:
        key = (r["_source_file"], r["source_table"])
        q_count[key] = q_count.get(key, 0) + 1
    w_rows: dict[tuple[str, str], set[int]] = {}
    for r in warnings:
        w_rows.setdefault((r["_source_file"], r["source_table"]), set()).add(r["_source_row"])
    for a in accounts:
        key = (a["source_file"], a["table"])
        if q_count.get(key, 0) != a["rows_quarantined"]:
            problems.append(
                f"{_show(a['source_file'])} [{a['table']}]: {a['rows_quarantined']} rows quarantined "
                f"in the account, {q_count.get(key, 0)} in quarantine.parquet"
            )
        if "rows_warned" in a and len(w_rows.get(key, ())) != a["rows_warned"]:
            problems.append(
                f"{_show(a['source_file'])} [{a['table']}]: {a['rows_warned']} rows warned in the "
                f"account, {len(w_rows.get(key, ()))} in warnings.parquet"
            )

    return problems, _Staged(entries, resolved, by_file, quarantine, warnings)


@dataclass
class _Staged:
    """What a run staged, for checking a manifest's (or a variant's) file expectations."""

    entries: list[str]
    resolved: dict[str, str]
    by_file: dict[str, list[dict[str, Any]]]
    quarantine: list[dict[str, Any]]
    warnings: list[dict[str, Any]]


def check_files(staged: _Staged, manifest: dict[str, Any]) -> list[str]:
    """Item 4 and the per-file expectations: statuses, counts, messages, rows."""
    problems: list[str] = []
    expect = manifest["files"]
    for entry in staged.entries:
        name = staged.resolved.get(entry)
        if name is None:
            continue
        q = [r for r in staged.quarantine if r["_source_file"] == name]
        w = [r for r in staged.warnings if r["_source_file"] == name]
        spec = expect.get(entry)
        if spec is None:
            if manifest["strict"]:
                problems += _file_problems(entry, _CLEAN, staged.by_file[name], q, w)
            continue
        problems += _file_problems(entry, spec, staged.by_file[name], q, w)
    return problems


def with_variant(manifest: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    """The manifest as a variant has it: its outcome and its files' expectations."""
    files = {k: dict(v) for k, v in manifest["files"].items()}
    for name, spec in (variant.get("files") or {}).items():
        files[name] = {**files.get(name, _CLEAN), **spec}
    out = {**manifest, "files": files}
    for key in ("outcome", "message", "root_cause"):
        if key in variant:
            out[key] = variant[key]
    return out


_CLEAN = {
    "status": ["ok"],
    "rows_read": None,
    "messages": [],
    "tables": {},
    "quarantine": [],
    "may_quarantine": [],
    "warn": [],
    "may_warn": [],
}


def _kept_before_fault(account: dict[str, Any]) -> bool:
    """A refused XML file may keep the complete records before its fault when its spec says
    so (issue 13, item 6: "say which"): then a message says they were kept."""
    return any(" kept" in m for m in account.get("messages") or [])


def _file_status(accounts: list[dict[str, Any]]) -> str:
    statuses = {a["status"] for a in accounts}
    if "rejected" in statuses:
        return "rejected"
    if statuses == {"unused"}:
        return "unused"
    if statuses == {"missing"}:
        return "missing"
    return "ok"


def _file_problems(
    entry: str,
    spec: dict[str, Any],
    accounts: list[dict[str, Any]],
    quarantine: list[dict[str, Any]],
    warnings: list[dict[str, Any]],
) -> list[str]:
    problems: list[str] = []
    show = _show(entry)
    status = _file_status(accounts)
    if status not in spec["status"]:
        messages = "; ".join(m for a in accounts for m in a.get("messages") or [])
        problems.append(
            f"{show}: status {status}, expected {' or '.join(spec['status'])} ({messages[:200]})"
        )
    if spec.get("rows_read") is not None:
        read = sum(a["rows_read"] for a in accounts)
        if read != spec["rows_read"]:
            problems.append(f"{show}: {read} rows read, expected {spec['rows_read']}")
    for table, counts in (spec.get("tables") or {}).items():
        read = sum(a["rows_read"] for a in accounts if a["table"] == table)
        if counts.get("rows_read") is not None and read != counts["rows_read"]:
            problems.append(f"{show} [{table}]: {read} rows read, expected {counts['rows_read']}")
    raw = " ".join(m for a in accounts for m in a.get("messages") or [])
    for word in spec.get("messages") or []:
        # a path is matched as written (header.csv is not HEADER.csv); a word in any case
        if (word not in raw) if "/" in word else (word.lower() not in raw.lower()):
            problems.append(f"{show}: no message says {word!r} ({raw[:240]})")
    problems += _rows_problems(
        show,
        "quarantined",
        spec["quarantine"],
        spec["may_quarantine"],
        quarantine,
        "reason",
        status == "rejected",
    )
    problems += _rows_problems(
        show, "warned", spec["warn"], spec["may_warn"], warnings, "warning", False
    )
    return problems


def _rows_problems(
    show: str,
    what: str,
    must: list[dict[str, Any]],
    may: list[dict[str, Any]] | str,
    rows: list[dict[str, Any]],
    text_col: str,
    everything: bool,
) -> list[str]:
    problems = []
    for m in must:
        hits = [
            r
            for r in rows
            if r["_source_row"] == m["row"]
            and (m["table"] is None or r["source_table"] == m["table"])
        ]
        where = f"{show}, row {m['row']}" + (f" [{m['table']}]" if m["table"] else "")
        if not hits:
            problems.append(f"{where}: not {what} (expected {'/'.join(m['fields'])})")
            continue
        if everything:
            continue
        texts = [r[text_col] or "" for r in hits]
        if m["fields"] != ["*"] and not any(_names_field(t, m["fields"]) for t in texts):
            problems.append(
                f"{where}: {what}, but not naming {'/'.join(m['fields'])}: {texts[0][:200]}"
            )
        for word in m.get("contains") or []:
            pattern = rf"\b{re.escape(word)}\b" if word.isdigit() else re.escape(word)
            if not any(re.search(pattern, t, re.I) for t in texts):
                problems.append(f"{where}: its {text_col} does not say {word!r}: {texts[0][:200]}")
    if everything or may == "any":
        return problems
    allowed = {(m["table"], m["row"]) for m in must}
    allowed |= {(g["table"], r) for g in may for r in g["rows"]}
    for r in rows:
        if (r["source_table"], r["_source_row"]) in allowed or (None, r["_source_row"]) in allowed:
            continue
        problems.append(
            f"{show}, row {r['_source_row']} [{r['source_table']}]: {what} unexpectedly: {(r[text_col] or '')[:200]}"
        )
        if len(problems) > 12:
            problems.append(f"{show}: ... and more rows {what} unexpectedly")
            break
    return problems


def _names_field(text: str, fields: list[str]) -> bool:
    """Does a reason (or each of several, joined by '; ') open with one of the fields?"""
    for part in text.split("; "):
        head = part.split(":", 1)[0]
        named = {p.strip() for p in re.split(r"[/,+ ]+", head) if p.strip()}
        if named & set(fields) or any(part.startswith(f"<{f}>") for f in fields):
            return True
    return False


def _rows(path: Path, text_col: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    con = duckdb.connect()
    try:
        cols = {
            c[0]
            for c in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{_sql(path)}')").fetchall()
        }
        table = "source_table" if "source_table" in cols else "NULL"
        text = text_col if text_col in cols else "NULL"
        rows = con.execute(
            f"SELECT _source_file, _source_row, {table} AS source_table, {text} AS {text_col} "
            f"FROM read_parquet('{_sql(path)}')"
        ).fetchall()
    finally:
        con.close()
    return [
        {"_source_file": f, "_source_row": r, "source_table": t, text_col: x} for f, r, t, x in rows
    ]


def _lineage(rows: list[dict[str, Any]], name: str, text_col: str) -> list[str]:
    bad = [
        r for r in rows if r["_source_file"] is None or r["_source_row"] is None or not r[text_col]
    ]
    if bad:
        return [f"{name}: {len(bad)} row(s) without _source_file, _source_row or {text_col}"]
    return []


def _sql(path: Path) -> str:
    return str(path).replace("'", "''")


def _show(name: str) -> str:
    return ascii(name)[1:-1] if not name.isprintable() else name


# -- reruns -----------------------------------------------------------------------------------------


def _loaded_state(home: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    folder = _report_path(home, manifest).parent
    report = json.loads((folder / "stage_report.json").read_text(encoding="utf-8"))
    load = json.loads((folder / "load_report.json").read_text(encoding="utf-8"))
    return {
        "load_id": report["load_id"],
        "tables": load.get("tables", {}),
        "rows": _warehouse_rows(home, load.get("tables", {})),
    }


def _warehouse_rows(home: Path, tables: dict[str, int]) -> dict[str, int]:
    path = home / "warehouse.duckdb"
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        con.close()


def _rerun_kept(home: Path, manifest: dict[str, Any], before: dict[str, Any]) -> list[str]:
    problems = []
    report = _report_path(home, manifest)
    if not report.exists():
        problems.append("rerun: the stage report of the loaded data is gone")
    else:
        load_id = json.loads(report.read_text(encoding="utf-8")).get("load_id")
        if load_id != before["load_id"]:
            problems.append(
                f"rerun: staging now describes the failed attempt ({load_id}), not the data loaded ({before['load_id']})"
            )
    after = _warehouse_rows(home, before["tables"])
    if after != before["rows"]:
        problems.append(f"rerun: the warehouse changed: {before['rows']} -> {after}")
    return problems


# -- CSV cells (item 9) -------------------------------------------------------------------------


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        return list(csv.reader(fh))


def _dangerous_cells(path: Path) -> list[str]:
    found = []
    for n, row in enumerate(_csv_rows(path), start=1):
        for cell in row:
            if cell.startswith(DANGEROUS) and not _NUMBER.match(cell):
                found.append(f"{path.name} line {n}: a cell a spreadsheet would run: {cell[:60]!r}")
    return found[:5]


def csv_cells(home: Path) -> list[str]:
    """Every CSV the pipeline wrote under the home (not the landing folder) is formula-safe."""
    problems = []
    for path in _regular_files(home):
        rel = path.relative_to(home)
        if rel.parts[0] == "landing" or path.suffix.lower() != ".csv":
            continue
        problems += [f"{rel.as_posix()}: {p}" for p in _dangerous_cells(path)]
    return problems


# -- the secret ---------------------------------------------------------------------------------------


def _needles(secret: str) -> list[bytes]:
    low = secret.lower()
    return [low.encode(), low.encode("utf-16-le"), low.encode("utf-16-be")]


def _regular_files(root: Path) -> list[Path]:
    out = []
    for folder, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            path = Path(folder, name)
            try:
                if stat.S_ISREG(os.lstat(path).st_mode):
                    out.append(path)
            except OSError:
                continue
    return out


def _file_holds(path: Path, needles: list[bytes]) -> bool:
    overlap = max(len(n) for n in needles)
    tail = b""
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            chunk = (tail + block).lower()
            if any(n in chunk for n in needles):
                return True
            tail = block[-overlap:]
    return False


def _parquet_holds(path: Path, secret: str) -> bool:
    con = duckdb.connect()
    try:
        n = con.execute(
            f"SELECT count(*) FROM read_parquet('{_sql(path)}') t "
            "WHERE contains(lower(CAST(t AS VARCHAR)), ?)",
            [secret.lower()],
        ).fetchone()[0]
        return bool(n)
    except duckdb.Error:
        return False
    finally:
        con.close()


def _duckdb_holds(path: Path, secret: str) -> bool:
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return False
    try:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            n = con.execute(
                f"SELECT count(*) FROM {name} t WHERE contains(lower(CAST(t AS VARCHAR)), ?)",
                [secret.lower()],
            ).fetchone()[0]
            if n:
                return True
        return False
    finally:
        con.close()


# -- the whole corpus ---------------------------------------------------------------------------------


def run_corpus(
    corpus: Path,
    work: Path,
    *,
    only: Iterable[str] | None = None,
    jobs: int = 1,
    progress: Callable[[CaseResult], None] | None = None,
    **options: Any,
) -> list[CaseResult]:
    """Run every case (or those named) and return the results in corpus order."""
    wanted = set(only) if only is not None else None
    cases = [d for d, m in iter_manifests(corpus) if wanted is None or m["name"] in wanted]
    checker = Checker(work, **options)
    checker.key()

    def one(case_dir: Path) -> CaseResult:
        result = checker.run_case(case_dir)
        if progress:
            progress(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, cases))


def summarise(results: list[CaseResult]) -> dict[str, Any]:
    """Pass counts per feed and per contract item, the failures, and the hostile figures."""
    per_feed = {f: [0, 0] for f in FEEDS}
    per_item = {i: [0, 0] for i in ITEMS}
    for r in results:
        per_feed.setdefault(r.feed, [0, 0])
        per_feed[r.feed][1] += 1
        per_feed[r.feed][0] += r.passed
        for i in r.items:
            per_item[i][1] += 1
            per_item[i][0] += r.passed
    return {
        "cases": len(results),
        "passed": sum(r.passed for r in results),
        "per_feed": {f: {"passed": p, "cases": n} for f, (p, n) in per_feed.items()},
        "per_item": {
            f"{i} {ITEMS[i]}": {"passed": p, "cases": n} for i, (p, n) in per_item.items()
        },
        "hostile": [
            {
                "name": r.name,
                "seconds": round(r.seconds, 1),
                "peak_rss_mb": round(r.peak_rss / 2**20),
                "passed": r.passed,
            }
            for r in results
            if r.hostile
        ],
        "failed": {r.name: r.failures for r in results if not r.passed},
    }


def render(summary: dict[str, Any], echo: Callable[[str], None] = print) -> None:
    echo(f"bad-input corpus: {summary['passed']} of {summary['cases']} cases pass")
    echo("")
    echo(f"{'feed':16} {'passed':>7} {'cases':>6}")
    for feed, c in summary["per_feed"].items():
        echo(f"{feed:16} {c['passed']:>7} {c['cases']:>6}")
    echo("")
    echo(f"{'contract item':38} {'passed':>7} {'cases':>6}")
    for item, c in summary["per_item"].items():
        echo(f"{item:38} {c['passed']:>7} {c['cases']:>6}")
    if summary["hostile"]:
        echo("")
        echo(f"{'hostile case':44} {'seconds':>8} {'peak RSS':>10} {'':>5}")
        for h in summary["hostile"]:
            mark = "pass" if h["passed"] else "FAIL"
            echo(f"{h['name']:44} {h['seconds']:>8.1f} {h['peak_rss_mb']:>7,} MB {mark:>5}")
    if summary["failed"]:
        echo("")
        echo("failing cases:")
        for name, failures in summary["failed"].items():
            echo(f"  {name}")
            for f in failures[:6]:
                echo(f"    - {f[:400]}")
            if len(failures) > 6:
                echo(f"    - ... {len(failures) - 6} more")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bad-input corpus through npd run.")
    parser.add_argument("corpus", type=Path, help="a folder written by tests.badinput.corpus")
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--keep", choices=("all", "failed", "none"), default="failed")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="npd-badinput-"))

    def progress(r: CaseResult) -> None:
        mark = "pass" if r.passed else "FAIL"
        print(f"{mark} {r.name} ({r.seconds:.1f} s, {r.peak_rss / 2**20:,.0f} MB)", flush=True)

    results = run_corpus(
        args.corpus, work, only=args.only, jobs=args.jobs, progress=progress, keep=args.keep
    )
    summary = summarise(results)
    render(summary)
    if args.json:
        args.json.write_text(
            json.dumps({"summary": summary, "results": [r.to_dict() for r in results]}, indent=1)
        )
    return 0 if summary["passed"] == summary["cases"] else 1


if __name__ == "__main__":
    sys.exit(main())
