"""Mesos-DNS's label rules: lower case, `-` for `.`/`_`, other characters dropped, trimmed, cut."""

from __future__ import annotations

import doctest
import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pydcos.dns import naming


@pytest.mark.parametrize(("name", "label"), [
    ("web", "web"),
    ("Web_Server.v2", "web-server-v2"),
    ("4abc123", "4abc123"),
    ("-4abc123", "4abc123"),
    ("chronos with a space AND MIXED CASE-2.0.1", "chronoswithaspaceandmixedcase-2-0-1"),
    ("pod_123$abc", "pod-123abc"),
    ("--x--", "x"),
    ("!!!", ""),
    ("ünïcode-name", "ncode-name"),
    ("a" * 70, "a" * 63),
    # Cut at 63, then the trailing dashes go and what follows the cut fills the label up again.
    ("a" * 60 + "----bcd", "a" * 60 + "bcd"),
])
def test_rfc1123_labels(name: str, label: str) -> None:
    assert naming.rfc1123_label(name) == label


@pytest.mark.parametrize(("name", "label"), [
    ("4abc123", "abc123"),
    ("-4abc123", "abc123"),
    ("89fdgsf---gs7-fgs--d7fddg-123", "fdgsf---gs7-fgs--d7fddg1"),
    ("89fdgsf---gs7-fgs--d7fddg---123", "fdgsf---gs7-fgs--d7fddg1"),
    ("89fdgsf---gs7-fgs--d7fddg-", "fdgsf---gs7-fgs--d7fddg"),
    ("chronos with a space AND MIXED CASE-2.0.1", "chronoswithaspaceandmixe"),
    ("hello" + "-" * 56 + "f", "hellof"),
])
def test_rfc952_labels(name: str, label: str) -> None:
    assert naming.rfc952_label(name) == label


@pytest.mark.parametrize(("name", "fragment"), [
    ("marathon", "marathon"),
    ("marathon.prod", "marathon.prod"),
    ("pod_123$abc.marathon-0.6.0-dev.mesos", "pod-123abc.marathon-0.6.0-dev.mesos"),
    ("My_Framework.v2", "my-framework.v2"),
    ("..a..b..", "a.b"),
])
def test_framework_names_keep_their_dots(name: str, fragment: str) -> None:
    assert naming.domain_fragment(name) == fragment


def test_rfc952_fragments_drop_digit_labels() -> None:
    assert naming.domain_fragment("pod_123$abc.marathon-0.6.0-dev.mesos", naming.rfc952_label) == \
        "pod-123abc.marathon-0.dev.mesos"


def test_task_hash_is_mesos_dns_zbase32_of_sha1() -> None:
    assert naming.task_id_hash("test") == "iffe9"
    assert len({naming.task_id_hash(f"web.{i}") for i in range(1000)}) == 1000


def test_canonical_label_carries_hash_and_agent_sequence() -> None:
    assert naming.agent_id_tail("49c9ccaf-00f7-435a-9609-00fadb073249-S12") == "s12"
    assert naming.canonical_task_label("web", "test", "x-S3") == "web-iffe9-s3"


@given(st.text())
def test_labels_are_always_valid_and_stable(name: str) -> None:
    for rule, limit in ((naming.rfc1123_label, 63), (naming.rfc952_label, 24)):
        label = rule(name)
        assert len(label) <= limit
        assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in label)
        assert not label.startswith("-") and not label.endswith("-")
        assert rule(label) == label


@pytest.mark.parametrize("module", ["naming", "wire", "records", "master_view", "fastpath"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"pydcos.dns.{module}"))
    assert result.failed == 0


def test_filled_up_label_never_ends_in_a_dash() -> None:
    assert naming.rfc1123_label("a" * 61 + "--" + "b-c") == "a" * 61 + "b"
