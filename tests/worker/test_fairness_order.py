"""The order a free slot tries the render queues in (worker/fairness.py), and the queue names."""

from __future__ import annotations

from reelmill import topology
from worker.fairness import QueueState, order


def q(tenant: str, priority: int, pending: int, ack_pending: int = 0, limit: int = -1) -> QueueState:
    return QueueState(topology.Queue(tenant, priority).consumer, pending, ack_pending, limit)


def test_tenants_take_turns_whatever_their_backlog() -> None:
    states = [q("acme", 3, 98), q("globex", 3, 2), q("initech", 3, 1)]
    names = {s.consumer: s.tenant for s in states}
    assert [names[c] for c in order(states, None)] == ["acme", "globex", "initech"]
    assert [names[c] for c in order(states, "acme")] == ["globex", "initech", "acme"]
    assert [names[c] for c in order(states, "initech")] == ["acme", "globex", "initech"]
    # A tenant served last that has since gone quiet still lets the others follow it in order.
    assert [names[c] for c in order(states, "hooli")] == ["initech", "acme", "globex"]


def test_simulated_turns_interleave_a_big_and_a_small_batch() -> None:
    """One slot, acme queued 8 variants before globex queued 2: globex's are taken 2nd and 4th."""
    left = {"acme": 8, "globex": 2}
    taken, last = [], None
    while any(left.values()):
        first = order([q(t, 3, n) for t, n in left.items()], last)[0]
        last = topology.queue_of_consumer(first).tenant  # type: ignore[union-attr]
        left[last] -= 1
        taken.append(last)
    assert [i for i, t in enumerate(taken) if t == "globex"] == [1, 3]


def test_within_a_tenant_the_highest_priority_comes_first() -> None:
    states = [q("acme", 1, 5), q("acme", 5, 1), q("acme", 3, 2)]
    assert order(states, None) == [topology.Queue("acme", p).consumer for p in (5, 3, 1)]


def test_a_tenant_at_its_limit_is_left_out_counting_all_its_priorities() -> None:
    states = [
        q("acme", 3, 5, ack_pending=1, limit=2),
        q("acme", 5, 5, ack_pending=1, limit=2),
        q("globex", 3, 1),
    ]
    assert order(states, None) == [topology.Queue("globex", 3).consumer]
    below = [q("acme", 3, 5, ack_pending=1, limit=2), q("globex", 3, 1)]
    assert order(below, None)[0] == topology.Queue("acme", 3).consumer


def test_idle_queues_are_skipped_and_retries_are_tried_last() -> None:
    retry = q("acme", 5, 0, ack_pending=1)
    states = [q("acme", 3, 0), retry, q("acme", 1, 2)]
    assert order(states, None) == [topology.Queue("acme", 1).consumer, retry.consumer]
    assert order([q("acme", 3, 0)], None) == []


def test_the_legacy_queue_takes_its_turn_and_strangers_are_ignored() -> None:
    legacy = QueueState(topology.LEGACY_CONSUMER, 3, 0, -1)
    stranger = QueueState("someone-elses", 9, 0, -1)
    assert order([legacy, stranger, q("acme", 3, 1)], None) == [
        legacy.consumer,
        topology.Queue("acme", 3).consumer,
    ]


def test_subjects_and_consumers_name_their_queue() -> None:
    subject = topology.command_subject("acme-eu_2", "0123abcd", priority=5)
    assert subject == "render.cmd.acme-eu_2.p5.0123abcd"
    queue = topology.queue_of_subject(subject)
    assert queue == topology.Queue("acme-eu_2", 5)
    assert topology.queue_of_consumer(queue.consumer) == queue  # type: ignore[union-attr]
    assert topology.queue_of_consumer(topology.Queue("a-p4", 2).consumer) == topology.Queue("a-p4", 2)
    assert topology.queue_of_subject("render.cmd.acme.0123abcd") is None  # the old form: the legacy queue
    assert topology.queue_of_consumer(topology.LEGACY_CONSUMER) is None
