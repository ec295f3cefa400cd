"""The baseline for the admission benchmark: a POST endpoint that reads the body and answers `{}`.

Served by the same gunicorn configuration as the hooks, so the difference is the hooks' own work.
Not part of the product.
"""

from flask import Flask, Response, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/<path:_path>")
    def noop(_path: str) -> Response:
        request.get_data()
        return Response("{}", mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status":"ok"}', mimetype="application/json")

    return app
