"""The request Authlib's grants read: read in full from the web request beforehand (by the
federation app's views), carrying the synchronous session the grant code uses."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

# (status, body, headers) as Authlib hands them to the framework.
RawResponse = tuple[int, Any, list[tuple[str, str]]]


class RosePayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, args: MultiDict[str, str], form: MultiDict[str, str]) -> None:
        self._data: MultiDict[str, str] = MultiDict(args)
        for key, values in form.lists():
            for value in values:
                self._data.add(key, value)

    @property
    def data(self) -> MultiDict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: self._data.getlist(key) for key in self._data}


class RoseOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """A web request, read in full beforehand (the federation app reads Quart's), with the
    sync session the grant code uses."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: dict[str, str],
        args: MultiDict[str, str],
        form: MultiDict[str, str],
        db: Session,
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = RosePayload(args, form)
        self._args = args
        self._form = form
        self.db = db
        # The sid of federation's own session in this browser (end-session without a hint).
        self.browser_sid: str | None = None
        self.ended_sid: str | None = None

    @property
    def args(self) -> MultiDict[str, str]:
        return self._args

    @property
    def form(self) -> MultiDict[str, str]:
        return self._form
