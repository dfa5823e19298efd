"""Requests the server makes to a URL a manager gave (webhooks out), safe against DNS rebinding.

A webhook is a request made where a manager says: without care one could point an endpoint at
the database, Redis or a cloud metadata service and read the answers in the delivery log. A
check of the URL when it is saved is not enough: a name that resolves to a public address then
may resolve to 127.0.0.1 a minute later (DNS rebinding), and a check followed by a library that
resolves the name again has the same hole between the two lookups. So, per request:

- the name is resolved once (`resolve`) and every address it gives is checked: loopback,
  private, link-local, reserved, multicast and IPv6 forms that carry such an IPv4 address
  (mapped, 6to4, Teredo, NAT64) are refused, unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES or the
  address is in WEBHOOK_ALLOWED_NETWORKS (receivers in our own network);
- the connection goes to a checked address (`post`, pinned: urllib3 is handed the address, not
  the name), with the name in the Host header and, for HTTPS, in SNI and the certificate check;
- redirects are never followed (a 3xx is a failed attempt): a redirect to 127.0.0.1 is refused
  like any other.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(Exception):
    """The URL may not be called now (the message says why, in English for the delivery log;
    ``reason`` is one of SCHEME, PORT, UNRESOLVABLE, PRIVATE, for a translated one)."""

    SCHEME, PORT, UNRESOLVABLE, PRIVATE = "scheme", "port", "unresolvable", "private"

    def __init__(self, message: str, *, reason: str, host: str = "", address: str = ""):
        super().__init__(message)
        self.reason, self.host, self.address = reason, host, address


class SendFailed(Exception):
    """No answer came (no connection, TLS refused, timeout); the message names the error."""


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(network, strict=False) for network in settings.WEBHOOK_ALLOWED_NETWORKS]


def is_public(address: IPAddress) -> bool:
    """An address on the internet at large (not ours, not anyone's local network)."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address) and (inner := _embedded_ipv4(address)) is not None:
        return is_public(inner)
    return True


def may_call(address: IPAddress) -> bool:
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES or is_public(address):
        return True
    return any(address in network for network in _allowed_networks() if network.version == address.version)


@dataclass(frozen=True)
class Target:
    """A URL with its name resolved once; `addresses` are all checked, in the resolver's order."""

    scheme: str
    hostname: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return host if self.port == (443 if self.scheme == "https" else 80) else f"{host}:{self.port}"


def resolve(url: str) -> Target:
    """Resolve the URL's host once and check every address; raises Refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("only http and https URLs", reason=Refused.SCHEME)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Refused("the port is not a number from 1 to 65535", reason=Refused.PORT) from exc
    try:
        hostname = parts.hostname.encode("idna").decode("ascii")  # Host and SNI are ASCII
    except UnicodeError as exc:
        raise Refused(
            f"{parts.hostname} is not a valid host name", reason=Refused.UNRESOLVABLE, host=parts.hostname
        ) from exc
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise Refused(
            f"{hostname} does not resolve ({exc.__class__.__name__})",
            reason=Refused.UNRESOLVABLE,
            host=hostname,
        ) from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    if not addresses:
        raise Refused(f"{hostname} does not resolve", reason=Refused.UNRESOLVABLE, host=hostname)
    for text in addresses:
        if not may_call(ipaddress.ip_address(text)):
            raise Refused(
                f"{hostname} resolves to a private, loopback or reserved address ({text}); "
                "allow it with WEBHOOK_ALLOWED_NETWORKS",
                reason=Refused.PRIVATE,
                host=hostname,
                address=text,
            )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme=parts.scheme, hostname=hostname, port=port, path=path, addresses=addresses)


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    location: str  # of a redirect (not followed), else ""


def _pool(target: Target, address: str, timeout: float) -> urllib3.HTTPConnectionPool:
    options = {"timeout": urllib3.Timeout(connect=timeout, read=timeout), "retries": False, "maxsize": 1}
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            target.port,
            server_hostname=target.hostname,
            assert_hostname=target.hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=settings.WEBHOOK_CA_BUNDLE or certifi.where(),
            **options,
        )
    return urllib3.HTTPConnectionPool(address, target.port, **options)


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float, keep_chars: int) -> Answer:
    """POST to the checked addresses in turn (the next only if no connection could be made)."""
    failure: Exception | None = None
    for address in target.addresses:
        pool = _pool(target, address, timeout)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": target.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:
            failure = exc  # nobody listens there: try the next address
            pool.close()
            continue
        except urllib3.exceptions.HTTPError as exc:
            pool.close()
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
        try:
            raw = response.read(keep_chars * 4, decode_content=True)
        except urllib3.exceptions.HTTPError:
            raw = b""  # the answer's status counts; its text is only kept for the log
        finally:
            response.release_conn()
            pool.close()
        return Answer(
            status=response.status,
            text=raw.decode("utf-8", "replace")[:keep_chars],
            location=response.headers.get("Location", ""),
        )
    raise SendFailed(f"{type(failure).__name__}: {failure}")
