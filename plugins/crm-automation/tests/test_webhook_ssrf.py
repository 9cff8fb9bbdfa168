"""The SSRF corpus: every spelling of a refused address, DNS answers that point inside, the
allow-list, and a connection made to the very address that was checked."""

from __future__ import annotations

from typing import Any

import pytest

from crm_automation.webhooks import ssrf
from crm_automation.webhooks.transport import post

REFUSED = [
    # loopback in every spelling the resolver accepts
    "http://127.0.0.1/", "http://127.1/", "http://127.0.1/", "http://2130706433/",
    "http://0x7f.1/", "http://0x7f000001/", "http://0177.0.0.1/", "http://0177.1/",
    "http://127.000.000.001/", "http://127.255.255.254/", "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://localhost/",
    "http://LOCALHOST./", "http://127.0.0.1:8080/", "https://127.1:443/x",
    # unspecified
    "http://0.0.0.0/", "http://0/", "http://[::]/",
    # private networks
    "http://10.0.0.1/", "http://10.1/", "http://172.16.0.1/", "http://192.168.1.1/",
    "http://0xc0a80101/", "http://3232235777/", "http://[::ffff:10.0.0.1]/",
    "http://[fd00::1]/", "http://[fc00::1]/",
    # link-local and cloud metadata
    "http://169.254.169.254/", "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/", "http://0xa9.0xfe.0xa9.0xfe/", "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/", "http://[fd00:ec2::254]/", "http://100.100.100.200/",
    "http://192.0.0.192/",
    # shared (CGNAT), multicast, reserved, broadcast, documentation
    "http://100.64.0.1/", "http://224.0.0.1/", "http://[ff02::1]/", "http://240.0.0.1/",
    "http://255.255.255.255/", "http://192.0.2.1/", "http://198.51.100.7/",
    "http://[2001:db8::1]/",
]  # fmt: skip


@pytest.mark.parametrize("url", REFUSED)
def test_every_spelling_of_an_inside_address_is_refused(url: str) -> None:
    with pytest.raises(ssrf.RefusedURL) as caught:
        ssrf.check(url)
    assert url in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "http:///x",
     "http://user:pw@93.184.216.34/", "http://93.184.216.34:0/", "http://93.184.216.34:99999/",
     "http://exa mple.com/", "http://example.com/\r\nX: y", "", "javascript:alert(1)"],
)  # fmt: skip
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(ssrf.RefusedURL):
        ssrf.check(url)


def test_public_addresses_pass_and_keep_the_checked_address() -> None:
    target = ssrf.check("https://93.184.216.34:8443/in?x=1")
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https", "93.184.216.34", 8443, "/in?x=1", "93.184.216.34"
    )
    assert ssrf.check("http://[2606:4700::1111]/").address == "2606:4700::1111"


def _resolver(table: dict[str, list[str]]) -> Any:
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return table[host]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize("answer", ["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1",
                                    "fd12:3456::1", "::ffff:192.168.0.1"])  # fmt: skip
def test_a_name_that_resolves_inside_is_refused(answer: str) -> None:
    resolve = _resolver({"hooks.example.com": [answer]})
    with pytest.raises(ssrf.RefusedURL) as caught:
        ssrf.check("https://hooks.example.com/x", resolver=resolve)
    assert "hooks.example.com" in str(caught.value) and answer in str(caught.value)


def test_one_inside_answer_among_public_ones_is_enough_to_refuse() -> None:
    resolve = _resolver({"mixed.example.com": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(ssrf.RefusedURL):
        ssrf.check("https://mixed.example.com/", resolver=resolve)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(ssrf.RefusedURL) as caught:
        ssrf.check("http://no-such-host.invalid/")
    assert "does not resolve" in str(caught.value)


def test_the_allow_list_admits_a_named_host_only() -> None:
    assert ssrf.check("http://127.0.0.1:5000/", ["127.0.0.1"]).address == "127.0.0.1"
    assert ssrf.check("http://LocalHost./", ["localhost"]).host == "localhost"
    with pytest.raises(ssrf.RefusedURL):
        ssrf.check("http://127.1/", ["127.0.0.1"])  # another spelling is another host
    with pytest.raises(ssrf.RefusedURL):
        ssrf.check("http://10.0.0.1/", ["127.0.0.1"])


def test_the_connection_goes_to_the_checked_address_with_the_name_in_host(
    receiver: Any,
) -> None:
    """Rebinding: the name is resolved once per hop, and the socket goes to that answer; a
    second, different answer (the rebind) is never asked for."""
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    response = post(f"http://hooks.test:{receiver.port}/in", b"{}", {},
                    allowed_hosts=["hooks.test"], resolver=rebinding)  # fmt: skip
    assert response.ok, response
    assert calls == ["hooks.test"]
    [sent] = receiver.requests
    assert sent.headers["Host"] == f"hooks.test:{receiver.port}" and sent.path == "/in"


def test_a_name_that_rebinds_to_an_inside_address_after_the_check_is_refused_on_the_next_hop(
    receiver: Any,
) -> None:
    """A redirect to the same name resolves again; an inside answer then is refused."""
    receiver.answers = [(307, f"http://evil.test:{receiver.port}/again")]
    table = {"hooks.test": ["127.0.0.1"], "evil.test": ["127.0.0.1"]}
    response = post(f"http://hooks.test:{receiver.port}/in", b"{}", {},
                    allowed_hosts=["hooks.test"], resolver=_resolver(table))  # fmt: skip
    assert response.status is None and "evil.test" in response.error
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "1.1.1.1"])
def test_global_addresses_are_not_refused(address: str) -> None:
    import ipaddress

    assert ssrf.refusal(ipaddress.ip_address(address)) is None
