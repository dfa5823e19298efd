"""rundbrief.http.client_ip: the visitor's address behind our own proxies, never a forged header."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from rundbrief.http import client_ip, client_ip_for_rate_limits


def request(remote="10.0.0.2", forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_without_settings_a_forged_header_is_ignored():
    assert client_ip(request("198.51.100.4", "203.0.113.66")) == "198.51.100.4"


@override_settings(TRUSTED_PROXY_HOPS=1)
def test_one_hop_takes_the_address_the_proxy_appended():
    # The visitor forged "1.2.3.4"; nginx appended the real peer 203.0.113.5.
    assert client_ip(request("10.0.0.2", "1.2.3.4, 203.0.113.5")) == "203.0.113.5"
    assert client_ip(request("10.0.0.2", "203.0.113.5")) == "203.0.113.5"


@override_settings(TRUSTED_PROXY_HOPS=2)
def test_two_hops_and_a_short_chain():
    assert client_ip(request("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.0.0.9")) == "203.0.113.5"
    # Fewer entries than hops: the furthest address anyone vouched for.
    assert client_ip(request("10.0.0.2")) == "10.0.0.2"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8", "2001:db8::1"])
def test_trusted_addresses_are_skipped_only_from_the_right():
    assert client_ip(request("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.1.1.1")) == "203.0.113.5"
    assert client_ip(request("2001:db8::1", "[2001:db8::77]:443")) == "2001:db8::77"
    # A peer that is not our proxy: its header means nothing.
    assert client_ip(request("198.51.100.4", "203.0.113.5")) == "198.51.100.4"


@override_settings(TRUSTED_PROXY_HOPS=1)
def test_garbage_and_ports_in_the_header():
    assert client_ip(request("10.0.0.2", "203.0.113.5:5555")) == "203.0.113.5"
    assert client_ip(request("10.0.0.2", "<script>, not-an-ip")) == "10.0.0.2"
    assert client_ip(request("10.0.0.2", " , ")) == "10.0.0.2"


def test_no_address_at_all_is_a_clear_configuration_error():
    assert client_ip(request("")) is None
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXY_HOPS"):
        client_ip_for_rate_limits(request(""))


@override_settings(TRUSTED_PROXIES=["not a network"])
def test_a_bad_trusted_proxies_setting_says_so():
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        client_ip(request("10.0.0.2", "203.0.113.5"))
