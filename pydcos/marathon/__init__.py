"""pydcos's Marathon: long-running services on the Mesos master, speaking Marathon's REST API v2.

    HTTP (api/*) ──► MarathonCore (core.py, pure) ◄── MesosLink (mesos_link.py): offers, updates
                        │ instructions: Mesos calls, store writes, events, health probes
                        ▼
                  Marathon (service.py): the one place that carries them out

See docs/marathon.md.
"""
