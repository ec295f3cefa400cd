import pytest

from hooks.settings import Settings


def test_defaults_and_environment() -> None:
    assert Settings.from_env({}) == Settings()
    settings = Settings.from_env({"MCSA_REMOTE_TIMEOUT_SECONDS": "2.5", "MCSA_CREDENTIALS_NAMESPACE": "other"})
    assert (settings.remote_timeout_seconds, settings.credentials_namespace) == (2.5, "other")
    assert Settings.from_env({"MCSA_THREADS": "3"}).threads == 3


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MCSA_REMOTE_TIMEOUT_SECONDS": "soon"}, "MCSA_REMOTE_TIMEOUT_SECONDS='soon' is not a number"),
        ({"MCSA_REMOTE_TIMEOUT_SECONDS": "7"}, "at most 6"),
        ({"MCSA_RENEW_FRACTION": "1"}, "between 0.1 and 0.95"),
        ({"MCSA_RETRY_MIN_SECONDS": "600"}, "at most MCSA_RETRY_MAX_SECONDS"),
        ({"MCSA_THREADS": "1"}, "MCSA_THREADS must be at least 2"),
        ({"MCSA_THREADS": "2.5"}, "MCSA_THREADS='2.5' is not a whole number"),
    ],
)
def test_bad_settings_say_which(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(environ)
