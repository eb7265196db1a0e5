from yarl import URL

from contracts_common.messaging.failover import AddressRotation, parse_amqp_urls, rotated_amqp_url


def test_full_urls_are_kept_in_order() -> None:
    urls = parse_amqp_urls("amqp://u:p@a:5681/, amqp://u:p@b:5682/")
    assert [(u.host, u.port) for u in urls] == [("a", 5681), ("b", 5682)]


def test_bare_hosts_share_credentials_and_vhost_of_the_host_list() -> None:
    urls = parse_amqp_urls("amqp://u:p@a:5681,b:5682,c/prod")
    assert [(u.host, u.port, u.user, u.password, u.path) for u in urls] == [
        ("a", 5681, "u", "p", "/prod"),
        ("b", 5682, "u", "p", "/prod"),
        ("c", 5681, "u", "p", "/prod"),
    ]


def test_single_url_is_one_address() -> None:
    assert parse_amqp_urls("amqp://guest:guest@127.0.0.1:5672/") == [
        URL("amqp://guest:guest@127.0.0.1:5672/")
    ]


def test_rotation_starts_at_the_first_address_and_wraps() -> None:
    rotation = AddressRotation(parse_amqp_urls("amqp://a/,amqp://b/,amqp://c/"))
    assert [rotation.advance().host for _ in range(4)] == ["a", "b", "c", "a"]


def test_rotated_url_starts_at_the_requested_address() -> None:
    assert rotated_amqp_url("amqp://a/,amqp://b/,amqp://c/", 1) == "amqp://b/,amqp://c/,amqp://a/"
