"""Pipelines (.then/.error with huey's extend_data rules), groups and chords."""
from __future__ import annotations

import pytest

from hueyd import ResultGroup, TaskException, chord, group
from hueyd.api.task import Task
from tests.unit.test_api_support import drain


def make_math(huey):
    @huey.task()
    def add(a, b):
        return a + b

    @huey.task()
    def collect(*args, **kwargs):
        return (args, kwargs)

    return add, collect


def test_then_feeds_each_result_into_the_next_stage(make_huey):
    huey = make_huey()
    add, _ = make_math(huey)
    pipe = add.s(1, 2).then(add, 3).then(add, 4)
    results = huey.enqueue(pipe)
    assert isinstance(results, ResultGroup) and len(results) == 3
    drain(huey)
    assert results.get() == [3, 6, 10]
    assert results[2] == 10  # indexing blocks for the value


@pytest.mark.parametrize("returned,args,kwargs", [
    ((1, 2), ("x", 1, 2), {}),          # a tuple extends the arguments
    ({"k": 1, "x": 9}, ("x",), {"k": 1, "x": "mine"}),  # a dict fills kwargs not set yet
    (None, ("x",), {}),                 # None adds nothing
    ([1], ("x", [1]), {}),              # anything else is one more argument
])
def test_extend_data_rules(make_huey, returned, args, kwargs):
    huey = make_huey()
    _, collect = make_math(huey)

    @huey.task()
    def give():
        return returned

    stage = collect.s("x", **({"x": "mine"} if "x" in kwargs else {}))
    results = huey.enqueue(give.s().then(stage))
    drain(huey)
    assert results[1] == (args, kwargs)


def test_error_callback_gets_the_exception(make_huey):
    huey = make_huey()
    seen = []

    @huey.task()
    def fail(x):
        raise KeyError(x)

    @huey.task()
    def on_error(tag, exc):
        seen.append((tag, type(exc).__name__, exc.args))
        return "handled"

    @huey.task()
    def never(value):
        seen.append("never")

    results = huey.enqueue(fail.s("k").then(never).error(on_error, "tag"))
    drain(huey)
    assert seen == [("tag", "KeyError", ("k",))]
    # A final failure answers every later stage too: they will never run.
    for result in results:
        with pytest.raises(TaskException, match="KeyError"):
            result.get()


def test_error_callback_runs_per_failed_attempt(make_huey):
    huey = make_huey()
    seen = []

    @huey.task(retries=1)
    def fail():
        raise ValueError("again")

    @huey.task()
    def report(exc):
        seen.append(repr(exc))

    huey.enqueue(fail.s().error(report))
    drain(huey)
    assert seen == ["ValueError('again')"] * 2


def test_then_accepts_a_ready_task_and_chains_errors(make_huey):
    huey = make_huey()
    add, _ = make_math(huey)
    first = add.s(1, 1)
    first.then(add.s(10))
    first.then(add.s(100))
    assert isinstance(first.on_complete.on_complete, Task)
    results = huey.enqueue(first)
    drain(huey)
    assert results() == [2, 12, 112]


def test_group_enqueues_all(make_huey):
    huey = make_huey()
    add, _ = make_math(huey)
    results = huey.enqueue(group([add.s(1, 1), add.s(2, 2)]))
    drain(huey)
    assert results.get() == [2, 4]


def test_chord_callback_gets_every_member_result(make_huey):
    huey = make_huey()
    add, collect = make_math(huey)
    members = [add.s(1, 1), add.s(2, 2).then(add, 10), add.s(3, 3)]
    outcome = huey.enqueue(group(members).then(collect, "all"))
    drain(huey)
    assert outcome.get() == (("all", [2, 14, 6]), {})
    assert outcome.results.get() == [2, 14, 6]
    # Members' slots are cleaned up; only the fired-marker stays (with a TTL).
    assert not [k for k in huey.all_results() if k.startswith("chord:") and
                not k.endswith(":fired")]


def test_chord_with_a_failed_and_a_revoked_member(make_huey):
    from hueyd import SKIPPED
    huey = make_huey()
    add, collect = make_math(huey)

    @huey.task()
    def fail():
        raise RuntimeError("member down")

    skipped = add.s(5, 5)
    huey.revoke(skipped)
    outcome = huey.enqueue(chord([add.s(1, 1), fail.s(), skipped], collect.s()))
    drain(huey)
    (values,), _ = outcome.get()
    assert values[0] == 2 and values[2] is SKIPPED
    assert "member down" in values[1].metadata["error"]


def test_empty_chord_fires_at_once(make_huey):
    huey = make_huey()
    _, collect = make_math(huey)
    outcome = huey.enqueue(chord([], collect.s()))
    drain(huey)
    assert outcome() == (([],), {})


def test_group_cannot_be_a_chord_member(make_huey):
    huey = make_huey()
    add, collect = make_math(huey)
    with pytest.raises(ValueError):
        huey.enqueue(chord([group([add.s(1, 1)])], collect.s()))
