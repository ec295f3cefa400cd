import pytest

from hooks.names import is_dns1123_label, is_dns1123_subdomain, secret_name, volume_name


@pytest.mark.parametrize(
    ("value", "label", "subdomain"),
    [
        ("a", True, True),
        ("cluster2-default-pod-lister", True, True),
        ("a.b", False, True),
        ("A", False, False),
        ("-a", False, False),
        ("a-", False, False),
        ("a_b", False, False),
        ("", False, False),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        ("a" * 254, False, False),
    ],
)
def test_dns1123(value: str, label: bool, subdomain: bool) -> None:
    assert is_dns1123_label(value) is label
    assert is_dns1123_subdomain(value) is subdomain


@pytest.mark.parametrize("name", ["a", "a.b", "x" * 63, "y" * 253, "z" * 248 + ".abcd"])
def test_secret_names_are_subdomains_and_stable(name: str) -> None:
    assert is_dns1123_subdomain(secret_name(name))
    assert secret_name(name) == secret_name(name)


def test_secret_name_keeps_the_seed_prefix() -> None:
    assert secret_name("cluster2-default-pod-lister") == "cluster2-default-pod-lister-token"


@pytest.mark.parametrize("name", ["a", "a.b", "x" * 59, "x" * 60, "y" * 253, "a." * 100 + "b"])
def test_volume_names_are_labels(name: str) -> None:
    assert is_dns1123_label(volume_name(name))


def test_long_names_differing_at_the_end_get_different_volumes() -> None:
    assert volume_name("x" * 100 + "a") != volume_name("x" * 100 + "b")
    assert secret_name("x" * 300 + "a") != secret_name("x" * 300 + "b")
