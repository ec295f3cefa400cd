"""The test double's client-side rate limit: client-go's token bucket."""

import pytest

from tests.testbed.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_burst_then_qps_a_second() -> None:
    clock = Clock()
    bucket = TokenBucket(5, 10, clock, clock.sleep)
    waits = [bucket.take() for _ in range(20)]
    assert waits[:10] == [0.0] * 10  # the burst
    assert waits[10:] == pytest.approx([0.2] * 10)  # then one every 1/qps
    assert clock.now == pytest.approx(102.0) and bucket.taken == 20


def test_an_idle_bucket_refills_up_to_its_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(5, 10, clock, clock.sleep)
    for _ in range(10):
        bucket.take()
    clock.now += 60  # a minute idle: back to 10 tokens, not 300
    assert [bucket.take() for _ in range(11)][-1] == pytest.approx(0.2)


def test_no_limit() -> None:
    bucket = TokenBucket(None, 1)
    assert all(bucket.take() == 0 for _ in range(1000)) and bucket.taken == 1000


def test_a_limit_needs_positive_values() -> None:
    with pytest.raises(ValueError, match="qps > 0"):
        TokenBucket(0, 10)


def test_reserve_takes_a_token_at_once_and_says_how_long_to_wait_for_it() -> None:
    # The workqueue's limiter for failed syncs (10 a second, burst 100): Reserve().Delay(), nothing sleeps.
    clock = Clock()
    bucket = TokenBucket(10, 100, clock, clock.sleep)
    delays = [bucket.reserve() for _ in range(120)]
    assert delays[:100] == [0.0] * 100
    assert delays[100:] == pytest.approx([0.1 * n for n in range(1, 21)])
    assert clock.now == 100.0 and bucket.taken == 120
