"""Serve an exported predictor over REST on this machine: MLflow's scoring server, hardened.

``msk1model serve --model URI`` runs :func:`serve`, which loads the predictor with
``mlflow.pyfunc.load_model`` and runs MLflow's own scoring app (the FastAPI app that
``mlflow models serve`` builds, :func:`mlflow.pyfunc.scoring_server.init`) with uvicorn from this
Python, so no activated environment and no ``uvicorn`` on ``PATH`` is needed. The endpoints are
MLflow's: ``GET /ping`` and ``/health``, ``GET /version`` and ``POST /invocations`` (JSON with
``dataframe_split``/``dataframe_records`` and optional ``params``, or CSV), answered with
``{"predictions": [...]}``, one record per patient (see :mod:`msk1model.predictor`).

Two things differ from plain ``mlflow models serve``:

* **Local clients only.** The server listens on 127.0.0.1 (or localhost) only, and
  :class:`LocalOnly` refuses every request whose ``Host`` header is not ``127.0.0.1:PORT`` or
  ``localhost:PORT`` (400: DNS rebinding, where a web page's host name is pointed at 127.0.0.1)
  and every request with an ``Origin`` header other than ``http://127.0.0.1:PORT`` or
  ``http://localhost:PORT`` (403: a web page in a browser posting to the server).
* **No input value in any answer.** MLflow's error answers quote the request: a malformed body
  verbatim, the whole input table when a param has the wrong type, and a stack trace otherwise.
  Here a refused input is answered ``{"error_code": "BAD_REQUEST", "message": ...}`` with the
  predictor's :class:`~msk1model.errors.InputError` text (columns, rules and row positions) or
  a message of this module's own that names the rule broken, never a value. A failure that is
  not the input's fault is a 500 whose log line holds the exception's type and stack frames but
  not its message.

``/invocations`` calls MLflow's internal ``scoring_server.invocations`` (parsing, schema and
params enforcement, prediction, JSON encoding), so the answers of the two servers carry the same
numbers; a new MLflow may move that function.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import sys
import traceback
from typing import TYPE_CHECKING

from mlflow.exceptions import MlflowException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from msk1model.errors import ExportError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mlflow.pyfunc import PyFuncModel
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOCAL_HOSTS", "LocalOnly", "load_predictor", "scoring_app", "serve"]

#: The only host names the server listens on and answers to.
LOCAL_HOSTS = ("127.0.0.1", "localhost")
#: How the body of ``POST /invocations`` looks (for the "Fix:" of every refusal).
REQUEST_SHAPE = (
    'POST JSON like {"dataframe_split": {"columns": ["age", ...], "data": [[61.0, ...]]}, '
    '"params": {"horizons": [7.0]}} with Content-Type: application/json'
)
#: A header value shown in a refusal is cut to this many characters.
MAX_SHOWN = 80

_logger = logging.getLogger(__name__)


def serve(model_uri: str, *, host: str = "127.0.0.1", port: int = 5001) -> None:
    """Serve the predictor at ``model_uri`` on ``http://host:port`` until interrupted.

    Parameters
    ----------
    model_uri
        Any URI ``mlflow.pyfunc.load_model`` takes, e.g. ``models:/msk1-prognostic@champion``
        (the tracking and registry URIs must be set beforehand) or a local model folder.
    host
        ``127.0.0.1`` or ``localhost``: the server never listens on other interfaces.
    port
        TCP port, 1 to 65535.

    Raises
    ------
    ExportError
        If ``host`` or ``port`` is not allowed or the port is in use, or the predictor cannot
        be loaded.
    """
    import uvicorn

    _check_address(host, port)
    _check_free(host, port)
    app = scoring_app(model_uri, host=host, port=port)
    print(
        f"serving {model_uri} on http://{host}:{port} (POST /invocations, GET /ping); Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


def scoring_app(model_uri: str, *, host: str, port: int) -> ASGIApp:
    """MLflow's scoring app for the predictor at ``model_uri``, local-only and value-free.

    ``host`` and ``port`` are where the app will be served; only requests addressed to
    ``127.0.0.1:port`` or ``localhost:port`` are answered (:class:`LocalOnly`).

    Raises
    ------
    ExportError
        If ``host`` or ``port`` is not allowed, or the predictor cannot be loaded.
    """
    _check_address(host, port)
    model = load_predictor(model_uri)
    from mlflow.pyfunc import scoring_server

    app = scoring_server.init(model)
    _replace_invocations(app, model)
    return LocalOnly(app, port=port)


def load_predictor(model_uri: str) -> PyFuncModel:
    """``mlflow.pyfunc.load_model(model_uri)``, with MLflow's load errors as :class:`ExportError`.

    Raises
    ------
    ExportError
        If the model is not found or is refused at load (e.g. its integrity check fails).
    """
    import mlflow

    try:
        return mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        reason = exc.message.rstrip(". ")
        raise ExportError(
            f"cannot load the predictor {model_uri!r} to serve it: {reason}. Fix: check the URI "
            "and the tracking store (--tracking-uri; `msk1model models list NAME` lists the "
            "versions)"
        ) from None


def _check_address(host: str, port: int) -> None:
    if host not in LOCAL_HOSTS:
        raise ExportError(
            f"the scoring server listens on this machine only (host {' or '.join(LOCAL_HOSTS)}), "
            f"but got host {host!r}. Fix: serve on 127.0.0.1 and put an authenticating reverse "
            "proxy in front of it for remote clients"
        )
    if not 1 <= port <= 65535:
        raise ExportError(
            f"the scoring server needs a TCP port in [1, 65535], but got {port}. Fix: pass "
            "--port with a free port, e.g. 5001"
        )


def _check_free(host: str, port: int) -> None:
    """Refuse a port in use before the (slow) model load rather than after it."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ExportError(
                f"the scoring server cannot listen on {host}:{port}: {exc.strerror}. Fix: pass "
                "--port with a free port, or stop the server that holds it"
            ) from None


class LocalOnly:
    """ASGI middleware: answer only requests addressed to this machine's server at ``port``.

    A ``Host`` header other than ``127.0.0.1:port`` or ``localhost:port`` (or none) is refused
    with 400; an ``Origin`` header other than ``http://127.0.0.1:port`` or
    ``http://localhost:port`` with 403. Both answers are ``{"error_code", "message"}`` JSON.
    """

    def __init__(self, app: ASGIApp, *, port: int) -> None:
        self.app = app
        self.port = port
        self.hosts = frozenset(f"{name}:{port}" for name in LOCAL_HOSTS) | (
            frozenset(LOCAL_HOSTS) if port == 80 else frozenset()
        )
        self.origins = frozenset(f"http://{host}" for host in self.hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan: start-up and shut-down
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(_header(scope, b"host"), _header(scope, b"origin"))
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await refusal(scope, receive, send)

    def refusal(self, host: str | None, origin: str | None) -> Response | None:
        """The answer refusing a request with these ``Host`` and ``Origin`` headers, or None."""
        allowed = " or ".join(sorted(f"{name}:{self.port}" for name in LOCAL_HOSTS))
        if host is None or host.lower() not in self.hosts:
            return _error(
                400,
                f"this server answers requests for {allowed} only (DNS-rebinding protection), "
                f"but the Host header is {_shown(host)}. Fix: call "
                f"http://127.0.0.1:{self.port}/ directly, not through another host name",
            )
        if origin is not None and origin.lower() not in self.origins:
            return _error(
                403,
                "requests from web pages of other sites are refused: the Origin header must be "
                f"absent or http://{allowed.replace(' or ', ' or http://')}, but it is "
                f"{_shown(origin)}. Fix: call the server from a program (curl, requests), not "
                "from a browser page",
                code="PERMISSION_DENIED",
            )
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _shown(value: str | None) -> str:
    if value is None:
        return "missing"
    return repr(value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "...")


def _error(status: int, message: str, *, code: str = "BAD_REQUEST") -> Response:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def _replace_invocations(app: FastAPI, model: PyFuncModel) -> None:
    """Swap MLflow's ``POST /invocations`` for one that answers errors without input values."""
    from mlflow.pyfunc import scoring_server

    schema = model.metadata.get_input_schema()

    async def invocations(request: Request) -> Response:
        content_type = request.headers.get("content-type")
        if content_type is None:
            return _error(415, f"the request has no Content-Type header. Fix: {REQUEST_SHAPE}")
        body = await request.body()
        # MLflow cannot read CSV against a schema of "any" columns; the contract checks types.
        csv = content_type.split(";")[0].strip() == scoring_server.CONTENT_TYPE_CSV
        try:
            result = await asyncio.to_thread(
                scoring_server.invocations, body, content_type, model, None if csv else schema
            )
        except MlflowException as exc:
            return _refusal(exc, model)
        except Exception as exc:  # MLflow's own serving code failed: not the input's fault
            return _failure(exc)
        if result.status != 200:  # unsupported content type or charset (header text only)
            return _error(result.status, f"{result.response} Fix: {REQUEST_SHAPE}")
        return Response(result.response, status_code=200, media_type=result.mimetype)

    app.router.routes[:] = [
        r for r in app.router.routes if getattr(r, "path", "") != "/invocations"
    ]
    app.add_route("/invocations", invocations, methods=["POST"])


def _refusal(exc: MlflowException, model: PyFuncModel) -> Response:
    """Our answer to an MLflow error: the predictor's InputError text, else our own message."""
    cause = _input_error(exc)
    if cause is not None:
        return _error(400, str(cause))
    if "unexpected error while evaluating the model" in exc.message:
        return _failure(exc.__cause__ or exc.__context__ or exc)  # the model failed, not the input
    if exc.get_http_status_code() >= 500:
        return _failure(exc)
    return _error(400, f"{_parse_problem(exc, model)}. Fix: {REQUEST_SHAPE}")


def _input_error(exc: BaseException) -> BaseException | None:
    """The predictor's InputError behind ``exc``, if any (matched by qualified name, since the
    loaded predictor may run its own shipped copy of :mod:`msk1model.errors`)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(
            (c.__module__, c.__qualname__) == ("msk1model.errors", "InputError")
            for c in type(current).__mro__
        ):
            return current
        current = current.__cause__ or current.__context__
    return None


def _parse_problem(exc: MlflowException, model: PyFuncModel) -> str:
    """What MLflow refused, in words that hold no value of the request."""
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        return (
            "the request body must be valid JSON, but it breaks JSON syntax at line "
            f"{cause.lineno}, column {cause.colno} ({cause.msg})"
        )
    if isinstance(cause, UnicodeDecodeError):
        return f"the request body must be UTF-8 text, but byte {cause.start} is not UTF-8"
    message = exc.message
    if "Invalid parameters found" in message:
        return _params_problem(message, model)
    known = sorted(_formats())
    for marker, text in (
        ("Received a list", f"the request body must be a JSON object with one key of {known}"),
        (
            "unexpected input type",
            f"the request body must be a JSON object with one key of {known}",
        ),
        (
            "exactly one of the input fields",
            f"the request body must hold exactly one of the keys {known} (and may hold 'params')",
        ),
        (
            "not a valid dataframe representation",
            "the table could not be built: 'dataframe_split' needs 'columns' (names) and 'data' "
            "(rows as long as 'columns'); 'dataframe_records' a list of {column: value} objects",
        ),
        (
            "Failed to parse input as a Pandas DataFrame",
            "the CSV body could not be read as a table",
        ),
    ):
        if marker in message:
            return text
    return (
        f"MLflow's scoring server refused the request ({exc.error_code}); its message is "
        "withheld because it may quote the request"
    )


def _formats() -> set[str]:
    """The top-level keys MLflow's scoring server reads the input table from."""
    from mlflow.pyfunc import scoring_server

    return set(scoring_server.SUPPORTED_FORMATS)


def _params_problem(message: str, model: PyFuncModel) -> str:
    schema = model.metadata.get_params_schema()
    specs = [] if schema is None else schema.params
    names = {p.name for p in specs}
    broken = sorted(set(re.findall(r"\('(\w+)', ", message)) & names) or sorted(names)
    expected = ", ".join(
        f"{p.name!r} {'a list of ' if p.shape else 'a '}{p.dtype.name}" for p in specs
    )
    return f"params {broken} break the model's params schema ({expected})"


def _failure(exc: BaseException) -> Response:
    """A 500 for a failure that is not the input's fault; logged without its message."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    _logger.error("scoring failed with %s (message withheld):\n%s", type(exc).__name__, frames)
    return _error(
        500,
        f"the server failed to score the request ({type(exc).__name__}); the details are in the "
        "server's log, without input values. Fix: report it with the model URI",
        code="INTERNAL_ERROR",
    )
