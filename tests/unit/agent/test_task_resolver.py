from __future__ import annotations

from pydcos.mesos.agent.task_resolver import resolv_conf_text


def test_resolv_conf_lists_at_most_three_nameservers() -> None:
    text = resolv_conf_text(["127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.4"])
    assert text.splitlines()[:3] == ["nameserver 127.0.1.1", "nameserver 127.0.1.2", "nameserver 127.0.1.3"]
    assert "127.0.1.4" not in text
    assert text.endswith("\n")
