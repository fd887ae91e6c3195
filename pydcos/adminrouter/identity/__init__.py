"""The identity service: users with argon2 password hashes, service accounts with RSA public keys,
login (`{uid, password}`, `{uid, token}`, `{token}`), RS256 tokens signed with the cluster's key
from the store, and the token check nginx asks for on every protected request. docs/identity.md.

    api.py (HTTP, thin) ──► service.Identity ──► store.IdentityStore ──► pydcos.store (SQLite)
                                 │ tokens.py, records.py, rate_limit.py (pure), passwords.py (argon2)
"""
