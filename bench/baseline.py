"""The baseline: a bare Quart route returning a short string, served like the apps are."""

from __future__ import annotations

from quart import Quart

app = Quart(__name__)


@app.get("/")
async def index() -> str:
    return "ok"
