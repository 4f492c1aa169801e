"""The one error tree of clusterops.

Every failure a user can cause or meet is one of these; the CLI maps each to an exit code in one
place (`clusterops.cli.main`) and prints its message without a traceback.

    ClusterOpsError                 base; exit 2 unless a child says otherwise
    +-- UsageError                  bad arguments or input the user gave (exit 2)
    |   +-- ConfigError             a file that cannot be read or parsed; names file and line
    +-- ConnectionFailed            a server could not be reached (exit 2)
    +-- AuthError                   the token was refused or lacks a permission (exit 2);
    |                               the message names the ACL permission or policy capability
    +-- NotFound                    a path, node or version that does not exist (exit 2)
    +-- CasConflict                 a check-and-set write lost a race; nothing was written (exit 1)
    +-- GateTimeout                 a gate did not hold before its deadline (exit 1)
    +-- UnsafePlan                  a pre-flight check refused the plan (exit 1)
    |   +-- LockHeld                another run holds the cluster or local lock (consul.lock)
    +-- BinaryUnavailable           a Consul or OpenBao binary cannot be found or built (exit 2)
    +-- LabError                    the local lab could not do what was asked (exit 2)

Messages never contain secret values or tokens.
"""

from __future__ import annotations


class ClusterOpsError(Exception):
    """Base of every clusterops error. `exit_code` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(ClusterOpsError):
    """Arguments or input the user gave are wrong."""


class ConfigError(UsageError):
    """A file cannot be read or parsed. Carries the file and, where known, the line."""

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None, hint: str | None = None
    ) -> None:
        where = path or ""
        if path and line:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.path = path
        self.line = line


class ConnectionFailed(ClusterOpsError):
    """A server could not be reached, or answered with a server error after retries."""


class AuthError(ClusterOpsError):
    """The token was refused, or lacks the named permission."""


class NotFound(ClusterOpsError):
    """The thing asked for does not exist."""


class CasConflict(ClusterOpsError):
    """A check-and-set write found another version than expected; nothing was written."""

    exit_code = 1


class GateTimeout(ClusterOpsError):
    """A gate's conditions did not all hold for the stable window before the deadline."""

    exit_code = 1


class UnsafePlan(ClusterOpsError):
    """Pre-flight refused to proceed: doing so could cost quorum or data."""

    exit_code = 1


class BinaryUnavailable(ClusterOpsError):
    """A server binary is not in the cache and cannot be built or installed here."""


class LabError(ClusterOpsError):
    """The local lab could not start, stop or find what was asked."""
