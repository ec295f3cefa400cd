from hooks.quiet import QuietServers


def test_quiet_after_a_timeout_then_one_probe_then_an_answer_ends_it() -> None:
    now = [0.0]
    quiet = QuietServers(hold=5, probe=4, clock=lambda: now[0])
    assert quiet.failure("https://a") is None  # never timed out: dial
    quiet.timed_out("https://a", "ReadTimeoutError")
    assert quiet.failure("https://a") == "ReadTimeoutError"
    assert quiet.failure("https://b") is None  # other servers are not affected
    now[0] = 5
    assert quiet.failure("https://a") is None  # the probe dials
    assert quiet.failure("https://a") == "ReadTimeoutError"  # the others wait for it
    now[0] = 9
    assert quiet.failure("https://a") is None  # the probe took too long: another may probe
    quiet.answered("https://a")
    assert quiet.failure("https://a") is None
    now[0] = 9.5
    assert quiet.failure("https://a") is None
