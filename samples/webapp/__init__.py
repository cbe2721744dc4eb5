"""Web applications on messagehandler: FastAPI (async, `app.py`) and Flask (blocking, `flask_app.py`).

Run with `pip install "messagehandler-azure[azure-tables,samples]"`, `MESSAGEHANDLER_CONNECTION_STRING`
set (see docs/getting-started.md), then `uvicorn samples.webapp.app:app` or `flask --app
samples.webapp.flask_app run`.
"""
