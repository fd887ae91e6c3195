"""Admin Router: real nginx in front of the masters, configured by pydcos, with a JWT check at the
edge, and the identity service (users, service accounts, login, RS256 tokens). See docs/adminrouter.md.

    masters' state, Marathon's apps ──watcher.py──► view.py (pure) ──render.py (pure)──► nginx.conf
                                                                       nginx.py: `nginx -t`, swap, SIGHUP
    client ──► nginx :80 ──auth_request (cached)──► identity/ (aiohttp, :8101) ──► store (SQLite)
                      └──► masters, Marathon, dns, agents, services
"""
