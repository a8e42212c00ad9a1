"""The bus's subscription bounds (alprd.sinks.bus_guard), as plain decisions."""
from __future__ import annotations

import socket

from alprd.sinks.bus_guard import ConnectionLedger, SubscriptionGate, unread_bytes


def test_gate_applies_prefixes_of_real_topics_and_only_a_few_others():
    gate = SubscriptionGate(["gate1", "gate2"], kinds=("plate.final", "plate.preview"), foreign=2)
    for topic in (b"", b"p", b"plate.", b"plate.final.", b"plate.final.gate1", b"plate.preview.gate"):
        assert gate.allow(topic), topic
    assert gate.allow(b"plate.final.gate3") and gate.allow(b"plate.final.gate4")  # a reload's cameras
    assert gate.allow(b"plate.final.gate3")  # an allowed one stays allowed
    assert not gate.allow(b"plate.final.gate5") and not gate.allow(b"x" * 300)
    assert (gate.foreign, gate.refused) == (2, 2)
    assert gate.allow(b"plate.final.gate2")  # real topics are never crowded out
    assert gate.applied(b"plate.final.gate3") and gate.applied(b"plate.")
    assert not gate.applied(b"plate.final.gate5")  # refused: never in the trie, nothing to remove


def test_ledger_cuts_the_connection_over_its_share_or_the_biggest_over_the_total():
    ledger = ConnectionLedger(per_connection=3, total=5)
    ledger.opened(7)
    ledger.opened(8)
    assert [ledger.subscribed(7) for _ in range(3)] == [None, None, None]
    assert ledger.subscribed(7) == 7  # its fourth
    ledger.closed(7)
    assert ledger.total == 0 and 7 not in ledger.held
    for _ in range(3):
        ledger.subscribed(8)
    ledger.unsubscribed(8)
    assert ledger.held[8] == 2
    ledger.opened(9)
    assert [ledger.subscribed(9) for _ in range(3)] == [None, None, None]  # 2 + 3 = 5
    assert ledger.subscribed(9) == 9  # over both limits: the biggest (and over its share) goes


def test_unread_bytes_is_what_waits_in_the_kernel_and_zero_for_what_is_no_socket(tmp_path):
    a, b = socket.socketpair()
    try:
        assert unread_bytes(b.fileno()) == 0
        a.sendall(b"\x01plate.final.x" * 100)
        assert unread_bytes(b.fileno()) == 1400
        b.recv(400)
        assert unread_bytes(b.fileno()) == 1000
    finally:
        a.close()
        b.close()
    assert unread_bytes(10**6) == 0  # not a descriptor: no error, nothing to cut
