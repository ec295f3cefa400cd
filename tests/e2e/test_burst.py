"""A renewal that falls due during a burst of new imports, as Metacontroller with the README's recommended
flags syncs them (the test double with their client rate limit and workers): it still happens before the
token expires, and every import costs one TokenRequest."""

from tests.testbed.bed import Bed
from tests.testbed.burst import FLAGS, remove, run_burst


def test_a_renewal_due_in_a_burst_of_1000_new_imports_happens_before_expiry(testbed: Bed) -> None:
    result = run_burst(testbed, "burst", 1000, "recommended")
    remove(testbed, "burst")
    qps, burst, workers = FLAGS["recommended"]
    print(
        f"1000 imports Ready after {result.ready_seconds:.0f} s with --client-go-qps={qps:g} "
        f"--client-go-burst={burst} --workers={workers}; the renewal {result.renewal_delay:.0f} s after it fell "
        f"due (margin {result.margin:.0f} s)"
    )
    assert result.renewal_delay < result.margin
    assert result.alert_before_expiry
    assert result.token_requests == 1001  # one per new import, one for the renewal


def test_at_metacontrollers_defaults_a_renewal_held_up_by_a_burst_sets_off_the_alert_first(testbed: Bed) -> None:
    # 250 new imports at 5 calls a second: the renewal waits about two minutes, more than the alert's one.
    result = run_burst(testbed, "burst-defaults", 250, "defaults")
    remove(testbed, "burst-defaults")
    print(f"250 imports Ready after {result.ready_seconds:.0f} s at Metacontroller's defaults; the renewal "
          f"{result.renewal_delay:.0f} s after it fell due")  # fmt: skip
    assert result.renewal_delay > 60  # late enough for the README's alert ServiceAccountImportRenewalOverdue
    assert result.alert_before_expiry  # which fired before the token would have expired
    assert result.renewal_delay < result.margin
    assert result.token_requests == 251
