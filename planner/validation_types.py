"""Error types of request validation, shared by every module that checks input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    path: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class RequestError(ValueError):
    """The input is not valid; ``errors`` names every field that is wrong, ``subject`` says
    what was being read (a plan request, a live state, a plan)."""

    def __init__(self, errors: list[FieldError], subject: str = "plan request"):
        self.errors = errors
        self.subject = subject
        super().__init__("; ".join(f"{e.path}: {e.reason}" for e in errors))
