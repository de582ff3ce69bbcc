"""MQTT topic names and filters: which are valid, and which filters a topic matches."""

from __future__ import annotations


def valid_topic_name(topic: str) -> bool:
    """Return whether topic is a valid topic name to publish to (no wildcards)."""
    return bool(topic) and "+" not in topic and "#" not in topic


def valid_topic_filter(topic_filter: str) -> bool:
    """Return whether topic_filter is a valid subscription filter."""
    if not topic_filter:
        return False
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            if index != len(levels) - 1:
                return False
        elif level != "+" and ("+" in level or "#" in level):
            return False
    return True


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Return whether topic matches topic_filter, honouring + and # wildcards."""
    if topic.startswith("$") and topic_filter[:1] in {"+", "#"}:
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level not in {"+", topic_levels[index]}:
            return False
    return len(filter_levels) == len(topic_levels)
