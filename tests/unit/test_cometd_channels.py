"""Channel names, wildcard matching and the subscription index of the CometD server."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxgate.cometd import channels
from cxgate.cometd.channels import SubscriptionIndex

# A tiny alphabet makes matching and non-matching pairs equally likely.
segment = st.sampled_from(["a", "b", "c"])
concrete = st.lists(segment, min_size=1, max_size=5).map(lambda s: "/" + "/".join(s))
pattern = st.one_of(
    concrete,
    st.tuples(st.lists(segment, max_size=4), st.sampled_from(["*", "**"])).map(
        lambda p: "/" + "/".join([*p[0], p[1]])
    ),
)


def reference_matches(pattern: str, channel: str) -> bool:
    """Wildcard semantics written out as a regex: `*` one segment, `**` one or more."""
    if pattern.endswith("/**"):
        regex = re.escape(pattern[:-3]) + r"(/[^/]+)+"
    elif pattern.endswith("/*"):
        regex = re.escape(pattern[:-2]) + r"/[^/]+"
    else:
        regex = re.escape(pattern)
    return re.fullmatch(regex, channel) is not None


@pytest.mark.parametrize(
    ("pattern", "channel", "expected"),
    [
        ("/a/*", "/a/b", True),
        ("/a/*", "/a/b/c", False),
        ("/a/*", "/a", False),
        ("/a/**", "/a/b", True),
        ("/a/**", "/a/b/c", True),
        ("/a/**", "/a", False),
        ("/a/**", "/ab/c", False),
        ("/*", "/a", True),
        ("/*", "/a/b", False),
        ("/**", "/a/b/c", True),
        ("/a/b", "/a/b", True),
        ("/a/b", "/a/b/c", False),
        ("/notifications/*", "/notifications/services", True),
    ],
)
def test_wildcard_examples(pattern: str, channel: str, expected: bool) -> None:
    assert channels.matches(pattern, channel) is expected


@given(pattern, concrete)
def test_matching_agrees_with_the_reference(pattern: str, channel: str) -> None:
    assert channels.matches(pattern, channel) is reference_matches(pattern, channel)


@given(st.lists(segment, min_size=1, max_size=4), st.lists(segment, min_size=1, max_size=4))
def test_single_star_matches_exactly_one_more_segment(prefix: list[str], rest: list[str]) -> None:
    base = "/" + "/".join(prefix)
    channel = base + "/" + "/".join(rest)
    assert channels.matches(base + "/*", channel) is (len(rest) == 1)
    assert channels.matches(base + "/**", channel)
    assert not channels.matches(base + "/*", base)
    assert not channels.matches(base + "/**", base)


@given(concrete)
def test_every_channel_matches_itself_and_the_root_wildcard(channel: str) -> None:
    assert channels.matches(channel, channel)
    assert channels.matches("/**", channel)
    patterns = list(channels.matching_patterns(channel))
    assert len(patterns) == len(set(patterns)) == channel.count("/") + 2


@given(st.lists(st.tuples(pattern, st.sampled_from(["s1", "s2", "s3"])), max_size=12), concrete)
def test_index_finds_exactly_the_matching_subscribers(
    subscriptions: list[tuple[str, str]], channel: str
) -> None:
    index = SubscriptionIndex()
    for pat, subscriber in subscriptions:
        index.add(pat, subscriber)
    expected = {s for pat, s in subscriptions if reference_matches(pat, channel)}
    assert index.subscribers(channel) == expected
    for pat, subscriber in subscriptions:
        index.discard(pat, subscriber)
    assert len(index) == 0
    assert index.subscribers(channel) == set()


def test_index_discard_is_idempotent_and_keeps_other_subscribers() -> None:
    index = SubscriptionIndex()
    index.add("/a/*", "s1")
    index.add("/a/*", "s2")
    index.discard("/a/*", "s1")
    index.discard("/a/*", "s1")
    index.discard("/never", "s1")
    assert index.subscribers("/a/b") == {"s2"}
    index.discard_all(["/a/*", "/x"], "s2")
    assert len(index) == 0


@pytest.mark.parametrize(
    "name",
    ["/a", "/a/b", "/notifications/services", "/_genesys", "/a-b/c_d/e.f", "/x!~()$@"],
)
def test_valid_names(name: str) -> None:
    assert channels.is_valid(name)
    assert channels.is_valid(name, wildcard=True)


@pytest.mark.parametrize(
    "name",
    ["", "/", "a/b", "/a/", "//a", "/a//b", "/a b", "/a/é", "/a?b", "/a#", 42, None, ["/a"]],
)
def test_invalid_names(name: object) -> None:
    assert not channels.is_valid(name)
    assert not channels.is_valid(name, wildcard=True)


@pytest.mark.parametrize("name", ["/*", "/**", "/a/*", "/a/b/**"])
def test_wildcards_are_valid_only_where_allowed(name: str) -> None:
    assert channels.is_valid(name, wildcard=True)
    assert not channels.is_valid(name)
    assert channels.is_wildcard(name)


@pytest.mark.parametrize("name", ["/a/*/b", "/*/a", "/a/***", "/a/b*", "/**/a"])
def test_wildcards_elsewhere_are_invalid(name: str) -> None:
    assert not channels.is_valid(name, wildcard=True)


def test_meta_and_service_prefixes() -> None:
    assert channels.is_meta("/meta/connect")
    assert channels.is_meta("/meta/**")
    assert not channels.is_meta("/metadata")
    assert channels.is_service("/service/chat")
    assert not channels.is_service("/services")
    assert not channels.is_service("/notifications/services")
