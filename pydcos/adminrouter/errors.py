"""Errors of Admin Router and its identity service.

    AdminRouterError
    ├── RouterConfigError      a setting that cannot work (bad address, port, path)
    ├── NginxError             nginx could not be run as asked
    │   ├── NginxConfigInvalid     `nginx -t` refused a rendered configuration (its output attached)
    │   └── NginxStartFailed       nginx exited, or did not listen, when started
    ├── BootstrapFailed        `cluster up` could neither create the first user nor log in as it
    └── IdentityError          the identity service
        ├── BadCredentials         wrong uid, password or service login token (answered 401)
        ├── TokenRejected          a missing, malformed, forged or expired token (answered 401)
        └── UserConflict           a user with that uid exists already (answered 409)
"""

from __future__ import annotations


class AdminRouterError(Exception):
    pass


class RouterConfigError(AdminRouterError, ValueError):
    pass


class NginxError(AdminRouterError):
    pass


class NginxConfigInvalid(NginxError):
    def __init__(self, output: str) -> None:
        super().__init__(f"nginx -t refused the configuration: {output.strip()}")
        self.output = output


class NginxStartFailed(NginxError):
    pass


class BootstrapFailed(AdminRouterError):
    pass


class IdentityError(AdminRouterError):
    pass


class BadCredentials(IdentityError):
    pass


class TokenRejected(IdentityError):
    """`reason` is one of a few fixed, ASCII, quote-free sentences: it is put into a JSON body by nginx."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UserConflict(IdentityError):
    pass
