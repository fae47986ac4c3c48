"""The partition messages an inline run keeps held as its lease (``InlineRuns.finished``)."""

from __future__ import annotations

from typing import Any, cast

from nats.aio.msg import Msg

from services.scheduler.inline import InlineConfig, InlineRuns
from tests.worker.builders import cond_node, work_item

CONFIG = InlineConfig(frozenset({"condition"}), 64, 30.0, frozenset())


def delivered(name: str) -> Msg:
    return cast(Msg, name)  # held and handed back, never read: a stand-in is enough


def runs() -> InlineRuns:
    return InlineRuns(CONFIG, "s1", lambda _execution_id: True, 1 << 20)


def test_a_run_that_began_later_keeps_only_what_was_delivered_since() -> None:
    inline = runs()
    first = work_item(cond_node([(None, "a")]), execution_id="exec_lease", dispatch=2)
    second = work_item(cond_node([(None, "b")]), execution_id="exec_lease", dispatch=5)
    inline.run(first, {})
    assert inline.hold("exec_lease", delivered("m2")) and inline.hold("exec_lease", delivered("m3"))
    inline.run(second, {})  # the next node, run before the first run's end was folded
    assert inline.hold("exec_lease", delivered("m5"))
    assert inline.finished(first) == ["m2", "m3"]
    assert inline.running("exec_lease", 5) and not inline.running("exec_lease", 2)
    assert inline.hold("exec_lease", delivered("m6"))
    assert inline.finished(second) == ["m5", "m6"]
    assert not inline.hold("exec_lease", delivered("m7")), "nothing runs: acknowledged at once"


def test_the_messages_stay_held_while_an_earlier_run_still_runs() -> None:
    inline = runs()
    first = work_item(cond_node([(None, "a")]), execution_id="exec_lease2", dispatch=2)
    second = work_item(cond_node([(None, "b")]), execution_id="exec_lease2", dispatch=5)
    inline.run(first, {})
    inline.run(second, {})
    held: list[Any] = [delivered(f"m{n}") for n in range(3)]
    assert all(inline.hold("exec_lease2", msg) for msg in held)
    assert inline.finished(second) == [], "the first run still needs them all"
    assert inline.finished(first) == held
