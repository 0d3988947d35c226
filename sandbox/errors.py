"""Typed errors of the simulated cluster. Each maps to a Kubernetes Status reason and code, so
the protocol servers can answer in the real error shape without guessing."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class: an operation on the simulated cluster was refused; nothing changed."""

    reason = "BadRequest"
    code = 400


class NotFoundError(SandboxError):
    reason = "NotFound"
    code = 404

    def __init__(self, kind: str, name: str, namespace: str | None = None):
        self.kind, self.name, self.namespace = kind, name, namespace
        where = f' in namespace "{namespace}"' if namespace else ""
        super().__init__(f'{kind.lower()} "{name}" not found{where}')


class InvalidError(SandboxError):
    """The request names a real object but asks for something invalid (422 Invalid)."""

    reason = "Invalid"
    code = 422

    def __init__(self, kind: str, name: str, field: str, detail: str):
        self.kind, self.name, self.field = kind, name, field
        super().__init__(f'{kind} "{name}" is invalid: {field}: {detail}')


class ConflictError(SandboxError):
    reason = "Conflict"
    code = 409


class UnknownFaultError(SandboxError, KeyError):
    """A scenario names a fault type that is not in the catalogue."""

    reason = "NotFound"
    code = 404

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])
