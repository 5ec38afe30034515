"""The bandwidth estimator (``media.aiortc_patch.estimator``): aiortc's figures, cheaper, REMBs
spaced."""

from __future__ import annotations

import random

import aiortc
import aiortc.rtcrtpreceiver
import pytest
from aiortc.rate import RateCounter, RemoteBitrateEstimator

from media import AiortcIncompatibleError, aiortc_patch


def test_remb_is_sent_at_most_once_per_interval() -> None:
    # aiortc's receiver sends a REMB for every packet while its estimator sees "overuse" (a
    # busy server's own loop delay looks like it): the estimate goes on, the REMBs are spaced.
    class Estimator:
        calls = 0

        def add(self, **kwargs: object) -> tuple[int, list[int]]:
            self.calls += 1
            return 300_000, [1]

    class Receiver:
        _RTCRtpReceiver__remote_bitrate_estimator = Estimator()

    receiver = Receiver()
    aiortc_patch.estimator.throttle_remb(receiver, 60.0)  # type: ignore[arg-type]
    estimator = receiver._RTCRtpReceiver__remote_bitrate_estimator
    sent = [estimator.add(arrival_time_ms=i, abs_send_time=i, payload_size=1000, ssrc=1)
            for i in range(50)]  # fmt: skip
    assert estimator.calls == 50
    assert sent[0] == (300_000, [1]) and sent[1:] == [None] * 49


def test_the_faster_bandwidth_estimator_gives_aiortcs_figures() -> None:
    """Same packets, same REMBs: the swapped rate counter and frame-period history change
    the cost, not the estimate."""
    rng = random.Random(7)
    ours, theirs = RemoteBitrateEstimator(), RemoteBitrateEstimator()
    aiortc_patch.estimator._speed_up_estimator(ours)
    send_ms, arrival_ms, rembs = 0.0, 1000, 0
    for _ in range(3000):
        send_ms += rng.choice((0.0, 0.5, 40.0, 40.0, 40.0, 80.0))
        arrival_ms += rng.choice((0, 1, 20, 40, 45, 60, 1500 if rng.random() < 0.002 else 40))
        abs_send_time = int(send_ms * 262.144) & 0xFFFFFF
        size = rng.randrange(100, 9000)
        expected = theirs.add(abs_send_time, arrival_ms, size, 1234)
        assert ours.add(abs_send_time, arrival_ms, size, 1234) == expected
        rembs += expected is not None
        assert ours.incoming_bitrate.rate(arrival_ms) == theirs.incoming_bitrate.rate(arrival_ms)
    assert rembs > 10


def test_the_faster_rate_counter_counts_as_aiortcs() -> None:
    rng = random.Random(11)
    ours, theirs = aiortc_patch.estimator._RateCounter(100, 8000), RateCounter(100, 8000)
    now = 5000
    for _ in range(5000):
        now += rng.choice((0, 0, 1, 2, 5, 20, 99, 100, 101, 250))
        if rng.random() < 0.7:
            value = rng.randrange(1, 1500)
            ours.add(value, now)
            theirs.add(value, now)
        assert ours.rate(now) == theirs.rate(now)


def test_the_guard_names_what_an_upgrade_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    assert aiortc_patch.estimator.check() == []
    monkeypatch.delattr(aiortc.rtcrtpreceiver, "RemoteBitrateEstimator")
    problems = aiortc_patch.estimator.check()
    assert any("RemoteBitrateEstimator" in problem for problem in problems), problems
    with pytest.raises(AiortcIncompatibleError, match="RemoteBitrateEstimator"):
        aiortc_patch.check_hooks()
