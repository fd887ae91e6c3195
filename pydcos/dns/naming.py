"""Mesos-DNS naming rules: how task, framework and agent names become DNS labels. Pure.

Mesos-DNS (0.6, the one DC/OS 1.8 ships) lower-cases a name, turns `.`, `_` and `-` into `-`, drops
every other character that is not a letter or digit, trims `-` from both ends and cuts the label
to 63 characters (RFC 1123; 24 under RFC 952, which also trims leading digits). Framework names
keep their dots: each dot-separated part becomes its own label and empty parts vanish.

>>> task_label("apiserver.My_Service")
'apiserver-my-service'
>>> domain_fragment("marathon.prod")
'marathon.prod'
>>> canonical_task_label("web", "web.4f6a", "7c1f-S3")
'web-ityqa-s3'
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable

LabelRule = Callable[[str], str]

RFC1123_MAX = 63
RFC952_MAX = 24
# Human-oriented base-32 (z-base-32), as Mesos-DNS uses for the per-task hash.
_ZBASE32 = "ybndrfg8ejkmcpqxot1uwisza345h769"


def _map_chars(name: str) -> str:
    out = []
    for ch in name:
        if "a" <= ch <= "z" or "0" <= ch <= "9":
            out.append(ch)
        elif "A" <= ch <= "Z":
            out.append(ch.lower())
        elif ch in "-._":
            out.append("-")
    return "".join(out)


def _trim_cut(label: str, max_len: int, left: str, right: str) -> str:
    """Cut at `max_len` with `left` trimmed from the start and `right` from the end.

    When trimming the end of the cut shortens it, characters after the cut (themselves trimmed
    of `right` at the start) fill it up again, as Mesos-DNS's `trimCut` does. Unlike it, the end is
    trimmed once more afterwards, so a label never ends in `-`.
    """
    trimmed = label.lstrip(left)
    size = min(len(trimmed), max_len)
    head = trimmed[:size].rstrip(right)
    if len(head) == size:
        return head
    tail = trimmed[size:].lstrip(right)
    return (head + tail[: size - len(head)]).rstrip(right)


@functools.lru_cache(maxsize=8192)  # names repeat (an app's tasks), and a label costs a walk per character
def rfc1123_label(name: str) -> str:
    """A label under RFC 1123: at most 63 characters, digits allowed in front.

    >>> rfc1123_label("-4abc123")
    '4abc123'
    """
    return _trim_cut(_map_chars(name), RFC1123_MAX, "-", "-")


@functools.lru_cache(maxsize=8192)
def rfc952_label(name: str) -> str:
    """A label under RFC 952: at most 24 characters, starting with a letter.

    >>> rfc952_label("89fdgsf---gs7-fgs--d7fddg-123")
    'fdgsf---gs7-fgs--d7fddg1'
    """
    return _trim_cut(_map_chars(name), RFC952_MAX, "-0123456789", "-")


def label_rule(enforce_rfc952: bool) -> LabelRule:
    return rfc952_label if enforce_rfc952 else rfc1123_label


def task_label(name: str, rule: LabelRule = rfc1123_label) -> str:
    return rule(name)


@functools.lru_cache(maxsize=1024)
def domain_fragment(name: str, rule: LabelRule = rfc1123_label) -> str:
    """A framework name as one or more labels: dots separate labels, empty labels vanish."""
    return ".".join(label for part in name.split(".") if (label := rule(part)))


def task_id_hash(task_id: str) -> str:
    """Five z-base-32 characters of the task id's SHA-1: the stable per-task part of a name.

    >>> task_id_hash("test")
    'iffe9'
    """
    digest = hashlib.sha1(task_id.encode("utf-8")).digest()
    bits = int.from_bytes(digest[:4], "big") >> 7  # the first 25 bits
    return "".join(_ZBASE32[(bits >> shift) & 31] for shift in (20, 15, 10, 5, 0))


def agent_id_tail(agent_id: str) -> str:
    """The agent's sequence part: `...-S3` -> `s3`."""
    return agent_id.rsplit("-", 1)[-1].lower()


def canonical_task_label(label: str, task_id: str, agent_id: str) -> str:
    """The per-task unique label Mesos-DNS serves beside the shared one: `TASK-HASH-AGENT`."""
    return f"{label}-{task_id_hash(task_id)}-{agent_id_tail(agent_id)}"

