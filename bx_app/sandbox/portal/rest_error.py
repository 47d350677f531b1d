"""A REST error as Bitrix24 answers it: HTTP status plus {error, error_description}."""
from __future__ import annotations

from .limits import catalog_error


class RestError(Exception):
    def __init__(self, status: int, error: str, description: str = "", **extra) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.extra = extra

    @classmethod
    def from_catalog(cls, name: str) -> RestError:
        status, body = catalog_error(name)
        if isinstance(body, str):
            error = RestError(status, "INTERNAL_SERVER_ERROR", "")
            error.raw_body = body
            return error
        return cls(status, body["error"], body["error_description"])

    @classmethod
    def crm(cls, description: str) -> RestError:
        """Classic crm.* failures: empty error code, the text in error_description, HTTP 400."""
        return cls(400, "", description)

    raw_body: str | None = None

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description, **self.extra}
