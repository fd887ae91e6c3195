"""The agent's errors. Each is answered in its protocol's form, never a crash:

    AgentError
      InvalidTask        the task cannot run here as given          -> TASK_ERROR
      LaunchFailed       its process could not be started           -> TASK_FAILED
      FetchFailed        a URI could not be fetched or extracted     -> TASK_FAILED (REASON_FETCHER_FAILED)
      IsolationError     cgroups asked for but unusable              -> the agent refuses to start
      FilesError         a files API request refused                -> HTTP `status`
        BadRequest   400   missing or malformed parameter, wrong kind of file
        Forbidden    403   outside every reachable root
        NotFound     404   no such file or directory
"""

from __future__ import annotations


class AgentError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTask(AgentError, ValueError):
    pass


class LaunchFailed(AgentError):
    pass


class FetchFailed(AgentError):
    pass


class IsolationError(AgentError):
    pass


class FilesError(AgentError):
    status = 400


class BadRequest(FilesError):
    status = 400


class Forbidden(FilesError):
    status = 403


class NotFound(FilesError):
    status = 404
