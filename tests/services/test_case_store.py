"""The hand-off case store, on SQLite and on a real PostgreSQL: the same rules on both, and
exactly one winner when two advisers claim a case at the same moment."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.cases.store import CaseError, CaseStore, advisers_table, cases_table, feedback_table
from bot.contract import Callback, Case, Priority, Reason, Status

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
RACE_ROUNDS = 20


# --- databases ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    name = f"sen_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as db:
            db.execute(sa.text(f'CREATE DATABASE "{name}"'))
        problem = None
    except sa.exc.OperationalError as error:
        problem = str(error.orig).strip()
    if problem is not None:
        pytest.fail(
            f"PostgreSQL is not answering on 127.0.0.1:5432 ({problem}). These tests need "
            f"it: start it with `{START_POSTGRES}`",
            pytrace=False,
        )
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as db:
        db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _emptied(url: str) -> str:
    store = CaseStore(url)  # creates the tables the first time
    with store.engine.begin() as db:
        db.execute(cases_table.delete())
        db.execute(advisers_table.delete())
        db.execute(feedback_table.delete())
    store.engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'handoff.db'}"
    return _emptied(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[CaseStore]:
    store = CaseStore(db_url)
    yield store
    store.engine.dispose()


T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


def new_case(
    conversation: str,
    priority: Priority = Priority.NORMAL,
    minutes: int = 0,
    reason: Reason = Reason.PARENT_ASKED,
) -> Case:
    return Case(
        conversation,
        "socketio",
        reason,
        topic="ehcp",
        priority=priority,
        created_at=T0 + timedelta(minutes=minutes),
    )


# --- opening and listing -----------------------------------------------------------------------
def test_a_conversation_keeps_one_open_case_raised_to_urgent_when_needed(
    store: CaseStore,
) -> None:
    first = store.open_case(new_case("conv-1"))
    again = store.open_case(new_case("conv-1"))
    assert again.id == first.id and again.priority is Priority.NORMAL

    urgent = store.open_case(new_case("conv-1", Priority.URGENT, reason=Reason.SAFEGUARDING))
    assert urgent.id == first.id
    assert urgent.priority is Priority.URGENT and urgent.reason is Reason.SAFEGUARDING
    stored = store.get(first.id)
    assert stored.priority is Priority.URGENT and stored.reason is Reason.SAFEGUARDING
    # A later, ordinary request never lowers it.
    assert store.open_case(new_case("conv-1")).priority is Priority.URGENT

    store.close(first.id, None, "parent left")
    assert store.open_case(new_case("conv-1")).id != first.id


def test_urgent_cases_come_first_then_the_oldest(store: CaseStore) -> None:
    old = store.open_case(new_case("conv-old", minutes=0))
    newer = store.open_case(new_case("conv-new", minutes=5))
    urgent = store.open_case(new_case("conv-urgent", Priority.URGENT, minutes=10))

    assert [c.id for c in store.cases()] == [urgent.id, old.id, newer.id]
    assert [c.id for c in store.cases(priority=Priority.NORMAL)] == [old.id, newer.id]
    store.claim(old.id, "sam")
    assert [c.id for c in store.cases(status=Status.WAITING)] == [urgent.id, newer.id]
    assert [c.id for c in store.cases(status=Status.LIVE)] == [old.id]
    assert [c.id for c in store.cases(conversation_id="conv-new")] == [newer.id]


def test_people_ahead_counts_the_waiting_cases_taken_first(store: CaseStore) -> None:
    first = store.open_case(new_case("conv-a", minutes=0))
    second = store.open_case(new_case("conv-b", minutes=1))
    urgent = store.open_case(new_case("conv-c", Priority.URGENT, minutes=2))

    assert store.people_ahead(urgent) == 0
    assert store.people_ahead(first) == 1
    assert store.people_ahead(second) == 2
    store.claim(first.id, "sam")
    assert store.people_ahead(store.get(second.id)) == 1


# --- claiming and holding ----------------------------------------------------------------------
def test_claim_gives_the_case_to_one_adviser(store: CaseStore) -> None:
    case = store.open_case(new_case("conv-1"))
    claimed = store.claim(case.id, "sam")
    assert claimed.status is Status.LIVE and claimed.adviser == "sam"
    # Claiming your own live case again is harmless.
    assert store.claim(case.id, "sam").adviser == "sam"

    with pytest.raises(CaseError) as refused:
        store.claim(case.id, "alex")
    assert refused.value.code == 409 and "sam" in str(refused.value)
    assert store.get(case.id).adviser == "sam"

    taken = store.claim(case.id, "alex", take_over=True)
    assert taken.status is Status.LIVE and taken.adviser == "alex"


def test_a_callback_request_can_be_claimed(store: CaseStore) -> None:
    case = store.open_case(new_case("conv-1"))
    store.request_callback(case.id, Callback("07700 900123", "after 3pm", "Jo"))
    assert store.claim(case.id, "sam").status is Status.LIVE


def test_closed_and_unknown_cases_cannot_be_claimed(store: CaseStore) -> None:
    case = store.open_case(new_case("conv-1"))
    store.close(case.id, None, "parent left")
    for take_over in (False, True):
        with pytest.raises(CaseError) as closed:
            store.claim(case.id, "sam", take_over=take_over)
        assert closed.value.code == 409
    with pytest.raises(CaseError) as missing:
        store.claim(999_999, "sam")
    assert missing.value.code == 404


def test_only_the_holder_may_act_on_a_live_case(store: CaseStore) -> None:
    case = store.open_case(new_case("conv-1"))
    with pytest.raises(CaseError) as unclaimed:
        store.require_holder(case.id, "sam")
    assert unclaimed.value.code == 403

    store.claim(case.id, "sam")
    assert store.require_holder(case.id, "sam").adviser == "sam"
    for act in (
        lambda: store.require_holder(case.id, "alex"),
        lambda: store.close(case.id, "alex", "resolved"),
    ):
        with pytest.raises(CaseError) as other:
            act()
        assert other.value.code == 403
    assert store.get(case.id).status is Status.LIVE


def test_closing_clears_the_call_back_contact_details(store: CaseStore) -> None:
    case = store.open_case(new_case("conv-1"))
    store.request_callback(case.id, Callback("07700 900123", "after 3pm", "Jo"))
    assert store.get(case.id).callback.contact == "07700 900123"
    store.claim(case.id, "sam")
    store.set_paused(case.id, True)

    closed = store.close(case.id, "sam", "called back, advised on SEN Support plan")
    assert closed.status is Status.CLOSED and closed.callback is None and not closed.paused
    assert closed.outcome == "called back, advised on SEN Support plan"
    with store.engine.connect() as db:
        row = db.execute(sa.select(cases_table).where(cases_table.c.id == case.id)).one()
    assert (row.callback_contact, row.callback_time, row.callback_name) == (None, None, None)

    with pytest.raises(CaseError) as again:
        store.close(case.id, None, "parent left")
    assert again.value.code == 409


def test_summary_and_pause_flag(store: CaseStore) -> None:
    case = store.open_case(new_case("conv-1"))
    store.add_to_summary(case.id, "Parent: hello")
    store.add_to_summary(case.id, "Parent: still there?")
    store.set_paused(case.id, True)
    stored = store.get(case.id)
    assert stored.summary == "Parent: hello\nParent: still there?" and stored.paused
    assert store.open_case_for("conv-1").id == case.id
    assert store.open_case_for("conv-unknown") is None


def test_advisers_tokens_and_availability(store: CaseStore) -> None:
    token = store.add_adviser("sam", "Sam")
    adviser = store.adviser_for_token(token)
    assert (adviser.username, adviser.first_name, adviser.available) == ("sam", "Sam", False)
    assert store.adviser_for_token("not-a-token") is None and store.adviser_for_token(None) is None

    store.set_available("sam", True)
    assert [a.username for a in store.available_advisers()] == ["sam"]
    new_token = store.add_adviser("sam", "Samantha")
    assert store.adviser_for_token(token) is None
    assert store.adviser_for_token(new_token).first_name == "Samantha"


# --- two advisers, one case, the same moment ---------------------------------------------------
def test_simultaneous_claims_have_exactly_one_winner(db_url: str) -> None:
    setup = CaseStore(db_url)
    # Each adviser's request has its own store and engine, as two API processes would.
    stores = {"sam": CaseStore(db_url), "alex": CaseStore(db_url)}
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for round_number in range(RACE_ROUNDS):
                case = setup.open_case(new_case(f"race-{round_number}"))
                barrier = threading.Barrier(2)

                def attempt(adviser: str, case_id: int = case.id, gate=barrier) -> str | int:
                    gate.wait(timeout=10)
                    try:
                        return stores[adviser].claim(case_id, adviser).adviser
                    except CaseError as error:
                        return error.code

                results = list(pool.map(attempt, ["sam", "alex"]))
                winners = [r for r in results if isinstance(r, str)]
                assert len(winners) == 1 and results.count(409) == 1, (round_number, results)
                assert setup.get(case.id).adviser == winners[0]
    finally:
        for store in (setup, *stores.values()):
            store.engine.dispose()


def test_simultaneous_escalations_open_one_case(db_url: str) -> None:
    stores = [CaseStore(db_url), CaseStore(db_url)]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for round_number in range(RACE_ROUNDS):
                barrier = threading.Barrier(2)

                def attempt(store: CaseStore, n: int = round_number, gate=barrier) -> int:
                    gate.wait(timeout=10)
                    return store.open_case(new_case(f"twice-{n}")).id

                ids = list(pool.map(attempt, stores))
                assert ids[0] == ids[1], (round_number, ids)
                assert len(stores[0].cases(conversation_id=f"twice-{round_number}")) == 1
    finally:
        for store in stores:
            store.engine.dispose()


def test_summary_lines_from_two_writers_are_all_kept(db_url: str) -> None:
    stores = [CaseStore(db_url), CaseStore(db_url)]
    try:
        case = stores[0].open_case(new_case("chatty"))
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(
                pool.map(
                    lambda i: stores[i % 2].add_to_summary(case.id, f"Parent: line {i}"), range(20)
                )
            )
        summary = stores[0].get(case.id).summary
        assert all(f"Parent: line {i}" in summary.splitlines() for i in range(20))
    finally:
        for store in stores:
            store.engine.dispose()


def test_the_first_claim_is_timed_for_waiting_times(store: CaseStore) -> None:
    case = store.open_case(new_case("conv-wait"))
    assert store.waits() == [] and case.claimed_at is None
    store.claim(case.id, "sam")
    first = store.get(case.id).claimed_at
    assert abs(first - datetime.now(timezone.utc)) < timedelta(minutes=1)
    store.claim(case.id, "alex", take_over=True)  # a take-over keeps the first claim's time
    assert store.waits() == [(T0, first)]
    assert store.get(case.id).as_dict()["claimed_at"] == first.isoformat()


def test_erasure_and_retention_remove_cases_and_feedback(store: CaseStore) -> None:
    keep, gone = store.open_case(new_case("conv-keep")), store.open_case(new_case("conv-gone"))
    store.record_feedback("conv-gone", "a" * 16, "senco", True)
    store.record_feedback("conv-keep", "b" * 16, "senco", False)
    assert store.delete_conversation("conv-gone") == 2
    assert store.cases(conversation_id="conv-gone") == [] and store.feedback_for("conv-gone") == {}
    assert store.get(keep.id) and store.feedback_for("conv-keep") == {"b" * 16: False}
    with pytest.raises(CaseError):
        store.get(gone.id)
    assert store.delete_older_than(datetime.now(timezone.utc) - timedelta(days=1)) == 0
    assert store.delete_older_than(datetime.now(timezone.utc) + timedelta(seconds=1)) == 2
    assert store.cases() == [] and store.feedback() == []


def test_a_database_made_before_claimed_at_existed_gets_the_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url, future=True)
    with engine.begin() as db:
        db.execute(sa.text("CREATE TABLE handoff_cases (id INTEGER PRIMARY KEY, x TEXT)"))
    CaseStore(url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("handoff_cases")}
    assert "claimed_at" in columns
