"""The latency reference (bench/reference.py) without training or Rasa: its cache key, its timing
loop against a stdlib HTTP server, and its server context manager with a stand-in command."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench import reference
from bench.accuracy import WARM_UP_MESSAGES


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """A copy of the installed Rasa's init template."""
    copy = tmp_path / "template"
    shutil.copytree(reference.template_dir(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_installed_template_is_rasa_init_s_project() -> None:
    files = {p.relative_to(reference.template_dir()).as_posix() for p in
             reference.template_files(reference.template_dir())}  # fmt: skip
    assert {"config.yml", "domain.yml", "credentials.yml", "data/nlu.yml"} <= files


def test_the_cache_key_names_the_rasa_version_and_is_stable(template: Path, tmp_path: Path) -> None:
    key = reference.cache_key(template, "3.6.21")
    assert key.startswith("rasa-3.6.21-")
    assert reference.cache_key(template, "3.6.21") == key
    elsewhere = tmp_path / "elsewhere" / "initial_project"
    shutil.copytree(template, elsewhere)
    assert reference.cache_key(elsewhere, "3.6.21") == key  # where it is installed: no matter
    (template / "actions" / "__pycache__").mkdir(exist_ok=True)
    (template / "actions" / "__pycache__" / "actions.cpython-310.pyc").write_bytes(b"\0")
    assert reference.cache_key(template, "3.6.21") == key  # byte-code caches: no matter


def test_the_cache_key_changes_with_the_rasa_version(template: Path) -> None:
    assert reference.cache_key(template, "3.6.21") != reference.cache_key(template, "3.6.20")


def test_the_cache_key_changes_with_any_template_file(template: Path) -> None:
    key = reference.cache_key(template, "3.6.21")
    nlu = template / "data" / "nlu.yml"
    nlu.write_text(nlu.read_text() + "    - hey there\n")
    edited = reference.cache_key(template, "3.6.21")
    assert edited != key
    (template / "data" / "extra.yml").write_text("version: '3.1'\n")
    added = reference.cache_key(template, "3.6.21")
    assert added not in (key, edited)
    (template / "data" / "extra.yml").rename(template / "data" / "moved.yml")
    assert reference.cache_key(template, "3.6.21") not in (key, edited, added)


FAKE_RASA = """#!{python}
import sys
from pathlib import Path
args = sys.argv[1:]
assert args[0] == "train", args
Path("calls").open("a").write(" ".join(args) + "\\n")  # in the project copy, thrown away
Path(args[args.index("--out") + 1], args[args.index("--fixed-model-name") + 1] + ".tar.gz"
     ).write_bytes(b"model")
Path({counter!r}).open("a").write("trained\\n")
"""


def test_the_model_is_trained_once_and_reused(template: Path, tmp_path: Path) -> None:
    counter = tmp_path / "trainings"
    rasa = tmp_path / "rasa"
    rasa.write_text(FAKE_RASA.format(python=sys.executable, counter=str(counter)))
    rasa.chmod(0o755)
    cache = tmp_path / "cache"
    model = reference.reference_model(cache, template=template, version="3.6.21", rasa=rasa)
    assert model == cache / reference.cache_key(template, "3.6.21") / "reference.tar.gz"
    assert model.read_bytes() == b"model"
    again = reference.reference_model(cache, template=template, version="3.6.21", rasa=rasa)
    assert again == model and counter.read_text() == "trained\n"
    assert sorted(p.name for p in cache.iterdir()) == [model.parent.name]  # no staging left
    (template / "domain.yml").write_text((template / "domain.yml").read_text() + "\n# edit\n")
    changed = reference.reference_model(cache, template=template, version="3.6.21", rasa=rasa)
    assert changed != model and counter.read_text() == "trained\ntrained\n"


def test_a_failed_training_caches_nothing(template: Path, tmp_path: Path) -> None:
    rasa = tmp_path / "rasa"
    rasa.write_text(f"#!{sys.executable}\nimport sys\nprint('no luck')\nsys.exit(3)\n")
    rasa.chmod(0o755)
    cache = tmp_path / "cache"
    with pytest.raises(reference.ReferenceBotError, match="exit 3"):
        reference.reference_model(cache, template=template, version="3.6.21", rasa=rasa)
    assert list(cache.iterdir()) == []


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A stdlib HTTP server answering /webhooks/rest/webhook as Rasa's REST channel does; the
    bodies it received."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"path": self.path, **body})
            reply = json.dumps([{"recipient_id": body["sender"], "text": "hi"}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_each_text_is_the_first_message_of_a_new_conversation(
    webhook: tuple[str, list[dict]],
) -> None:
    url, received = webhook
    texts = ["what is a senco", "hello", "what is a senco"]
    timings = reference.time_first_messages(url, texts, warm_up=3)
    assert len(timings) == len(texts)
    assert all(isinstance(t, float) and t > 0 for t in timings)
    assert [r["message"] for r in received] == [*WARM_UP_MESSAGES[:3], *texts]
    assert {r["path"] for r in received} == {"/webhooks/rest/webhook"}
    senders = [r["sender"] for r in received]
    assert len(set(senders)) == len(senders)


def test_no_warm_up_when_none_is_asked(webhook: tuple[str, list[dict]]) -> None:
    url, received = webhook
    assert len(reference.time_first_messages(url, ["hello"], warm_up=0)) == 1
    assert [r["message"] for r in received] == ["hello"]


def test_a_failed_message_is_an_error_not_a_timing() -> None:
    port = reference.free_port()  # nothing listens there
    with pytest.raises(reference.ReferenceBotError, match="did not answer"):
        reference.time_first_messages(f"http://127.0.0.1:{port}", ["hello"], warm_up=0)


def http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_server_is_stopped_when_the_block_raises() -> None:
    server = reference.ReferenceServer(command=http_server, ready_path="/")
    with pytest.raises(ZeroDivisionError), server:
        assert server.process is not None and server.process.poll() is None
        pid = server.process.pid
        1 / 0  # noqa: B018
    assert server.process.poll() is not None
    assert is_gone(pid)
    server.stop()  # a second stop does nothing


def test_the_server_answers_inside_the_block_and_stops_after_it() -> None:
    with reference.ReferenceServer(command=http_server, ready_path="/") as server:
        assert server.url.startswith("http://127.0.0.1:")
        pid = server.process.pid
        with urllib.request.urlopen(server.url + "/", timeout=10) as reply:
            assert reply.status == 200
    assert is_gone(pid)


def test_a_server_that_dies_while_starting_is_reported_and_reaped() -> None:
    def dies(port: int) -> list[str]:
        return [sys.executable, "-c", "import sys; print('broken model'); sys.exit(4)"]

    server = reference.ReferenceServer(command=dies, ready_path="/", timeout=30)
    with pytest.raises(RuntimeError, match="exit 4"):
        server.start()
    assert server.process is not None and server.process.returncode == 4


def test_a_server_that_never_answers_is_stopped() -> None:
    def silent(port: int) -> list[str]:
        return [sys.executable, "-c", "import time; time.sleep(60)"]

    server = reference.ReferenceServer(command=silent, ready_path="/", timeout=1)
    with pytest.raises(RuntimeError, match="did not answer"):
        server.start()
    assert server.process is not None and server.process.poll() is not None
