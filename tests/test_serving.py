"""The REST server of a predictor (:mod:`msk1model.serving`).

Fast tests drive :func:`scoring_app` in-process through a minimal ASGI client (the venv has no
httpx, so Starlette's TestClient is unavailable). The slow service tests start real servers as
subprocesses on free ports of 127.0.0.1, ``msk1model serve`` and plain ``mlflow models serve``,
and call them with the standard library only.

Every bad request carries recognisable secrets (a patient id, a text cell, an impossible age, a
malformed body, a wrongly typed param): none may come back in a body of ``msk1model serve`` or
appear in its log.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from msk1model.errors import ExportError
from msk1model.serving import LocalOnly, load_predictor, scoring_app, serve

from .conftest import TinyRun

MODEL = "models:/msk1-prognostic@champion"
SECRET_ID = "PATIENT-ID-4711-SECRET"
SECRET_TEXT = "SECRET-TEXT-VALUE"
SECRET_AGE = -42.5
SECRET_BODY = "SECRET-MALFORMED-4711"
SECRET_PARAM = "SECRET-PARAM-VALUE"
SECRETS = (SECRET_ID, SECRET_TEXT, "42.5", SECRET_BODY, SECRET_PARAM)
#: Port the in-process app believes it is served on (no socket is opened).
APP_PORT = 5999
READY_TIMEOUT_S = 90.0


# --- requests and payloads -------------------------------------------------------------------


def patient_rows(tiny_run: TinyRun) -> pd.DataFrame:
    """Five patients of the tiny run's cohort (the model's features) plus a secret id column."""
    features = list(tiny_run.result.selected.model.features_)
    assert {"age", "size"} <= set(features)
    rows = tiny_run.result.cohort.table[features].head(5).reset_index(drop=True)
    return rows.assign(patient_id=[f"{SECRET_ID}-{i}" for i in range(len(rows))])


def payload(rows: pd.DataFrame, params: dict[str, Any] | None = None) -> bytes:
    """``{"dataframe_split": ...}`` with every float written exactly (``repr``)."""
    split = {"columns": list(rows.columns), "data": rows.astype(object).to_numpy().tolist()}
    body: dict[str, Any] = {"dataframe_split": split}
    if params is not None:
        body["params"] = params
    return json.dumps(body).encode()


@dataclass(frozen=True)
class BadCase:
    """A refused request: its body, a fragment of our message and whether the predictor's
    :class:`~msk1model.errors.InputError` (rather than MLflow's parsing) refuses it."""

    name: str
    body: bytes
    fragment: str
    by_predictor: bool


def bad_cases(rows: pd.DataFrame) -> list[BadCase]:
    negative = rows.copy()
    negative.loc[1, "age"] = SECRET_AGE
    text = rows.astype({"size": object})
    text.loc[0, "size"] = SECRET_TEXT
    nan = rows.copy()
    nan.loc[2, "age"] = math.nan  # json.dumps writes NaN, which Python's json (MLflow) reads
    return [
        BadCase(
            "impossible age", payload(negative), "column 'age' must lie in its possible range", True
        ),
        BadCase("text in size", payload(text), "column 'size' must be a number (row 0)", True),
        BadCase(
            "missing column",
            payload(rows.drop(columns="age")),
            "the input lacks feature column(s) ['age']",
            True,
        ),
        BadCase("NaN age", payload(nan), "column 'age' must not be missing", True),
        BadCase(
            "horizon beyond follow-up",
            payload(rows, {"horizons": [1000.0]}),
            "params 'horizons' [1000.0] lie outside",
            True,
        ),
        BadCase(
            "malformed JSON",
            b'{"dataframe_split": {"columns": ["age"], "data": [[' + SECRET_BODY.encode(),
            "the request body must be valid JSON, but it breaks JSON syntax at line 1",
            False,
        ),
        BadCase(
            "wrongly typed param",
            payload(rows, {"horizons": [SECRET_PARAM]}),
            "params ['horizons'] break the model's params schema",
            False,
        ),
        BadCase(
            "no table key",
            json.dumps({"rows": [[1.0]]}).encode(),
            "the request body must hold exactly one of the keys",
            False,
        ),
    ]


def store_uri(tiny_run: TinyRun) -> str:
    """The tiny run's sqlite tracking and registry URI."""
    uri = tiny_run.config.tracking.uri
    assert uri is not None
    return uri


def row_secrets(rows: pd.DataFrame) -> list[str]:
    """The patients' biomarker values as written in the request (long, distinctive numbers)."""
    return [repr(float(v)) for v in rows["msk1"]]


def assert_no_secret(text: str, rows: pd.DataFrame) -> None:
    for secret in (*SECRETS, *row_secrets(rows)):
        assert secret not in text, f"{secret!r} leaked"


def predictions(body: str) -> pd.DataFrame:
    return pd.DataFrame(json.loads(body)["predictions"])


def assert_same_scores(found: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(found.columns) == list(expected.columns)
    for column in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[column]):
            assert found[column].to_numpy() == pytest.approx(
                expected[column].to_numpy(), rel=0, abs=1e-9
            ), column
        else:
            assert found[column].tolist() == expected[column].tolist(), column


# --- in-process: a minimal ASGI client ---------------------------------------------------------


def asgi_call(
    app: Any,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str | None] | None = None,
) -> tuple[int, str]:
    """One HTTP request through the ASGI ``app``: (status, body text); a header given as None
    is left out."""
    given: dict[str, str | None] = {
        "host": f"127.0.0.1:{APP_PORT}",
        "content-type": "application/json",
    }
    given.update(headers or {})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in given.items()
            if v is not None
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", APP_PORT),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # the client stays connected until the app is done
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, text.decode()


@pytest.fixture(scope="module")
def app(tiny_run: TinyRun) -> Iterator[Any]:
    """``scoring_app`` of the tiny run's champion, as if served on port ``APP_PORT``."""
    import mlflow

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tiny_run.workdir)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mlflow.set_tracking_uri(store_uri(tiny_run))
        mlflow.set_registry_uri(store_uri(tiny_run))
        yield scoring_app(MODEL, host="127.0.0.1", port=APP_PORT)


def test_app_scores_like_the_loaded_model(app: Any, tiny_run: TinyRun) -> None:
    import mlflow

    rows = patient_rows(tiny_run)
    status, body = asgi_call(app, "POST", "/invocations", payload(rows, {"horizons": [7.0]}))
    assert status == 200
    expected = mlflow.pyfunc.load_model(MODEL).predict(rows, params={"horizons": [7.0]})
    assert_same_scores(predictions(body), expected)


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({"host": f"evil.example:{APP_PORT}"}, 400, "but the Host header is 'evil.example:5999'"),
        ({"host": "127.0.0.1:1234"}, 400, "this server answers requests for 127.0.0.1:5999"),
        ({"origin": "http://evil.example"}, 403, "the Origin header must be absent or"),
        ({"origin": "null"}, 403, "but it is 'null'"),
    ],
)
@pytest.mark.parametrize("path", ["/ping", "/health", "/invocations"])
def test_app_refuses_foreign_host_and_origin(
    app: Any, tiny_run: TinyRun, path: str, headers: dict[str, str], status: int, fragment: str
) -> None:
    method = "POST" if path == "/invocations" else "GET"
    found, body = asgi_call(app, method, path, payload(patient_rows(tiny_run)), headers)
    assert found == status
    answer = json.loads(body)
    assert answer["error_code"] == ("BAD_REQUEST" if status == 400 else "PERMISSION_DENIED")
    assert fragment in answer["message"]


def test_app_answers_its_own_origin_and_localhost(app: Any, tiny_run: TinyRun) -> None:
    headers = {"host": f"localhost:{APP_PORT}", "origin": f"http://localhost:{APP_PORT}"}
    assert asgi_call(app, "GET", "/ping", headers=headers)[0] == 200
    body = payload(patient_rows(tiny_run))
    assert asgi_call(app, "POST", "/invocations", body, headers)[0] == 200


def test_app_refuses_bad_payloads_without_values(app: Any, tiny_run: TinyRun) -> None:
    rows = patient_rows(tiny_run)
    for case in bad_cases(rows):
        status, body = asgi_call(app, "POST", "/invocations", case.body)
        assert status == 400, case.name
        answer = json.loads(body)
        assert answer["error_code"] == "BAD_REQUEST", case.name
        assert case.fragment in answer["message"], (case.name, answer["message"])
        assert set(answer) == {"error_code", "message"}, case.name  # no stack trace
        assert_no_secret(body, rows)


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        (None, "the request has no Content-Type header"),
        ("text/plain", "This predictor only supports the following content types"),
    ],
)
def test_app_refuses_other_content_types(
    app: Any, tiny_run: TinyRun, content_type: str | None, fragment: str
) -> None:
    body = payload(patient_rows(tiny_run))
    status, text = asgi_call(app, "POST", "/invocations", body, {"content-type": content_type})
    assert status == 415
    message = json.loads(text)["message"]
    assert fragment in message
    assert "Fix: POST JSON like" in message


def test_app_reads_csv(app: Any, tiny_run: TinyRun) -> None:
    # plain mlflow refuses CSV for this model: it cannot type a CSV by a schema of "any" columns
    rows = patient_rows(tiny_run)
    csv = rows.to_csv(index=False).encode()
    status, text = asgi_call(app, "POST", "/invocations", csv, {"content-type": "text/csv"})
    assert status == 200
    status, json_text = asgi_call(app, "POST", "/invocations", payload(rows))
    assert_same_scores(predictions(text), predictions(json_text))


def test_local_only_rules() -> None:
    guard = LocalOnly(app=None, port=8000)  # type: ignore[arg-type]  # rules only, no app
    assert guard.refusal("127.0.0.1:8000", None) is None
    assert guard.refusal("LOCALHOST:8000", "http://127.0.0.1:8000") is None
    for host in (None, "127.0.0.1", "127.0.0.1:80", "evil.example:8000", "127.0.0.1.nip.io:8000"):
        refusal = guard.refusal(host, None)
        assert refusal is not None and refusal.status_code == 400, host
    for origin in ("https://127.0.0.1:8000", "http://127.0.0.1:9000", "http://evil.example"):
        refusal = guard.refusal("127.0.0.1:8000", origin)
        assert refusal is not None and refusal.status_code == 403, origin


def test_serve_refuses_other_hosts_and_ports() -> None:
    with pytest.raises(ExportError, match=r"listens on this machine only .* got host '0\.0\.0\.0'"):
        serve(MODEL, host="0.0.0.0")
    with pytest.raises(ExportError, match=r"needs a TCP port in \[1, 65535\], but got 0"):
        serve(MODEL, port=0)


def test_serve_refuses_a_port_in_use() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ExportError, match=rf"cannot listen on 127\.0\.0\.1:{port}: .*in use"):
            serve(MODEL, port=port)


def test_load_predictor_turns_mlflow_errors_into_export_error(app: Any, tmp_path: Path) -> None:
    import mlflow

    # ``app`` points MLflow at the tiny run's store
    with pytest.raises(
        ExportError, match=r"cannot load the predictor .*alias nope not found\. Fix"
    ):
        load_predictor("models:/msk1-prognostic@nope")
    folder = Path(mlflow.artifacts.download_artifacts(MODEL, dst_path=str(tmp_path)))
    (folder / "planted.py").write_text("print('not sealed')\n")
    with pytest.raises(
        ExportError, match=r"differs from its manifest\.json \(extra: \['planted\.py'\]\)"
    ):
        load_predictor(str(folder))


def test_model_failure_is_a_500_without_its_message(caplog: pytest.LogCaptureFixture) -> None:
    from mlflow.exceptions import MlflowException

    from msk1model import serving

    try:
        try:
            raise RuntimeError(f"fit broke on {SECRET_ID}")
        except RuntimeError:  # what MLflow's scoring server does with a non-MLflow error
            raise MlflowException(  # noqa: B904 (MLflow raises it so: the cause is the context)
                "Encountered an unexpected error while evaluating the model."
            )
    except MlflowException as exc:
        with caplog.at_level("ERROR", logger="msk1model.serving"):
            response = serving._refusal(exc, model=None)  # type: ignore[arg-type]
    assert response.status_code == 500
    body = bytes(response.body).decode()
    assert json.loads(body)["error_code"] == "INTERNAL_ERROR"
    assert "RuntimeError" in body and "RuntimeError" in caplog.text
    assert SECRET_ID not in body and SECRET_ID not in caplog.text


def test_input_error_of_a_shipped_copy_is_recognised() -> None:
    from msk1model import serving

    shipped = type("InputError", (ValueError,), {"__module__": "msk1model.errors"})
    outer = RuntimeError("wrapper")
    outer.__context__ = shipped("column 'age' must be a number (row 0)")
    assert str(serving._input_error(outer)) == "column 'age' must be a number (row 0)"


# --- real servers ------------------------------------------------------------------------------


@dataclass
class Server:
    """A server subprocess (its own process group) and its captured output."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # plain mlflow runs uvicorn as a child
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """One request to 127.0.0.1:``port`` (http.client sends ``Host`` unless ``headers`` does)."""
    given = {"Content-Type": "application/json"} if body is not None else {}
    given.update(headers or {})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=given)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def start_server(
    name: str, command: list[str], env: dict[str, str], port: int, tiny_run: TinyRun, folder: Path
) -> Server:
    """Start ``command`` in the tiny run's folder and wait until ``/ping`` answers 200."""
    stdout, stderr = folder / f"{name}.stdout", folder / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=tiny_run.workdir, env=env, stdout=out, stderr=err, start_new_session=True
        )
    server = Server(name, port, process, stdout, stderr)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if request(port, "GET", "/ping")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.25)
    server.stop()
    print(
        f"--- {name} stdout ---\n{stdout.read_text()}\n--- {name} stderr ---\n{stderr.read_text()}"
    )
    pytest.fail(f"{name} did not answer /ping within {READY_TIMEOUT_S:g} s (output above)")


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    return {**env, **extra}


@pytest.fixture(scope="module")
def msk1model_server(
    tiny_run: TinyRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``msk1model serve`` with the venv's bin left off PATH (uvicorn is run from Python)."""
    port = free_port()
    script = Path(sys.executable).with_name("msk1model")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "msk1model.cli"]
    command = [*entry, "serve", "--model", MODEL, "--port", str(port)]
    command += ["--tracking-uri", store_uri(tiny_run)]
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    folder = tmp_path_factory.mktemp("msk1model_server")
    server = start_server("msk1model serve", command, server_env(PATH=path), port, tiny_run, folder)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mlflow_server(tiny_run: TinyRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Plain ``mlflow models serve`` (it execs ``uvicorn``, so the venv's bin leads PATH)."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", MODEL]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = server_env(MLFLOW_TRACKING_URI=store_uri(tiny_run), PATH=path)
    folder = tmp_path_factory.mktemp("mlflow_server")
    server = start_server("mlflow models serve", command, env, port, tiny_run, folder)
    yield server
    server.stop()


@pytest.fixture(params=["msk1model", "mlflow"])
def server(request: pytest.FixtureRequest) -> Server:
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture(scope="module")
def expected(tiny_run: TinyRun) -> dict[str, pd.DataFrame]:
    """In-process predictions of the champion for the patient rows, by params."""
    import mlflow

    rows = patient_rows(tiny_run)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tiny_run.workdir)
        mlflow.set_tracking_uri(store_uri(tiny_run))
        mlflow.set_registry_uri(store_uri(tiny_run))
        model = mlflow.pyfunc.load_model(MODEL)
        return {
            "default": model.predict(rows),
            "7y": model.predict(rows, params={"horizons": [7.0]}),
        }


@pytest.mark.slow
@pytest.mark.parametrize("params", [None, {"horizons": [7.0]}])
def test_server_scores_like_the_loaded_model(
    server: Server, tiny_run: TinyRun, expected: dict[str, pd.DataFrame], params: Any
) -> None:
    status, body = request(
        server.port, "POST", "/invocations", payload(patient_rows(tiny_run), params)
    )
    assert status == 200, body
    assert_same_scores(predictions(body), expected["default" if params is None else "7y"])


@pytest.mark.slow
def test_server_refuses_bad_payloads(server: Server, tiny_run: TinyRun) -> None:
    rows = patient_rows(tiny_run)
    for case in bad_cases(rows):
        status, body = request(server.port, "POST", "/invocations", case.body)
        assert status == 400, (server.name, case.name, body)
        if server.name == "msk1model serve":
            answer = json.loads(body)
            assert set(answer) == {"error_code", "message"}, case.name
            assert answer["error_code"] == "BAD_REQUEST", case.name
            assert case.fragment in answer["message"], (case.name, answer["message"])
            assert_no_secret(body, rows)
        elif case.by_predictor:
            # Plain mlflow answers 400 too, with a generic message and a "stack_trace" that ends
            # in our InputError text. Its other answers quote the request: a malformed body
            # verbatim ("Input: b'...SECRET-MALFORMED-4711'"), and for a wrongly typed param the
            # whole input table, patient ids included ("Failed to predict data '  age ...'").
            assert case.fragment in body, (case.name, body)
            assert "stack_trace" in json.loads(body), case.name


@pytest.mark.slow
def test_msk1model_server_logs_hold_no_secret(msk1model_server: Server, tiny_run: TinyRun) -> None:
    rows = patient_rows(tiny_run)
    for case in bad_cases(rows):
        assert request(msk1model_server.port, "POST", "/invocations", case.body)[0] == 400
    assert request(msk1model_server.port, "POST", "/invocations", payload(rows))[0] == 200
    time.sleep(0.5)  # let the server flush its log lines
    logs = msk1model_server.logs()
    assert "serving models:/msk1-prognostic@champion on http://127.0.0.1:" in logs
    assert_no_secret(logs, rows)
    # (Plain mlflow logs no value either for these requests: its one warning names the extra
    # column, "Found extra inputs ... `['patient_id']`"; the leaks are in its answers.)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/ping", "/invocations"])
def test_msk1model_server_refuses_foreign_host_and_origin(
    msk1model_server: Server, tiny_run: TinyRun, path: str
) -> None:
    # Plain mlflow models serve checks neither header: with Host evil.example:PORT or Origin
    # http://evil.example it answers 200 and scores (DNS rebinding and cross-site POSTs work).
    port = msk1model_server.port
    method, body = (
        ("POST", payload(patient_rows(tiny_run))) if path == "/invocations" else ("GET", None)
    )
    status, text = request(port, method, path, body, {"Host": f"evil.example:{port}"})
    assert status == 400
    assert "DNS-rebinding protection" in json.loads(text)["message"]
    status, text = request(port, method, path, body, {"Origin": "http://evil.example"})
    assert status == 403
    assert json.loads(text)["error_code"] == "PERMISSION_DENIED"
    assert request(port, method, path, body, {"Origin": f"http://127.0.0.1:{port}"})[0] == 200
    assert request(port, method, path, body)[0] == 200  # still serving
