"""The visitor's IP address behind reverse proxies, for every part of the project.

`REMOTE_ADDR` is the peer of the TCP connection: behind a reverse proxy or load balancer
that is the proxy, for every visitor. The proxy appends the peer it saw to
`X-Forwarded-For`; entries further left were written by whoever sent the request and
cannot be trusted. So the chain `X-Forwarded-For + [REMOTE_ADDR]` is walked from the
right, skipping what our own infrastructure wrote:

- `TRUSTED_PROXY_HOPS = n`: the last n addresses are our proxies (nginx in front: 1;
  a CDN in front of nginx: 2).
- `TRUSTED_PROXIES`: addresses or networks of our proxies (`10.0.0.0/8`, `2001:db8::1`);
  any of them on the right end of the chain is skipped, however many there are.

The first address not skipped is the client. With neither setting (the default),
`X-Forwarded-For` is ignored: anyone could write it.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc


def _address(raw: str) -> str | None:
    """One chain entry as a plain IP address (ports and IPv6 brackets removed), or None."""
    value = raw.strip().strip('"')
    if value.startswith("["):  # "[2001:db8::1]:443"
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The visitor's address as far as our own proxies vouch for it; None if there is none."""
    hops = settings.TRUSTED_PROXY_HOPS
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    remote = _address(request.META.get("REMOTE_ADDR") or "")
    if not hops and not networks:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    chain = [entry for entry in forwarded.split(",") if entry.strip()]
    chain.append(request.META.get("REMOTE_ADDR") or "")
    client = None
    for position, raw in enumerate(reversed(chain)):
        address = _address(raw)
        if address is None:
            # Garbage where an address should be: nothing to its left can be believed;
            # the last address our proxies vouched for is the best we know.
            break
        client = address
        if position < hops or _trusted(address, networks):
            continue
        break
    return client


def client_ip_for_rate_limits(request: HttpRequest) -> str:
    """django-ratelimit's RATELIMIT_IP_META_KEY: the same address, and a clear error without one."""
    address = client_ip(request)
    if address is None:
        raise ImproperlyConfigured(
            "The request has no usable client address (REMOTE_ADDR is empty, e.g. a Unix socket "
            "behind a proxy): set TRUSTED_PROXY_HOPS or TRUSTED_PROXIES (see the README)."
        )
    return address
