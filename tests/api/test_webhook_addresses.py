"""Webhook deliveries and DNS rebinding: a name is resolved once per attempt, every address it gives
is checked, and the connection goes to the checked address (the name kept in Host and, for HTTPS,
in SNI and the certificate check); redirects are not followed.

The resolver is ours: socket.getaddrinfo is replaced at the outer edge, so the names below
resolve to what each test says (IP literals still go to the real resolver), and the receivers
are real HTTP(S) servers on 127.0.0.1.
"""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api import outbound, webhooks
from api.models import WebhookDelivery, WebhookEndpoint
from tests.api.receiver import Receiver

pytestmark = pytest.mark.django_db

NAME = "hooks.example.test"
PUBLIC = "93.184.216.34"


class Resolver:
    """Answers for some names, in turn (the last answer repeats; an empty one: no such name);
    counts the lookups."""

    def __init__(self, monkeypatch):
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: dict[str, int] = {}
        real = socket.getaddrinfo

        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
            name = host.decode() if isinstance(host, bytes) else host
            if name not in self.answers:
                return real(host, port, family, type, proto, flags)
            turn = self.lookups.get(name, 0)
            self.lookups[name] = turn + 1
            queue = self.answers[name]
            addresses = queue[min(turn, len(queue) - 1)]
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (address, port, 0, 0) if ":" in address else (address, port),
                )
                for address in addresses
            ]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def answer(self, name: str, *turns: list[str]) -> None:
        self.answers[name] = list(turns)
        self.lookups[name] = 0


@pytest.fixture
def dns(monkeypatch) -> Resolver:
    return Resolver(monkeypatch)


@pytest.fixture
def checked(settings):
    """Production rules: private addresses refused, except the receivers' 127.0.0.1."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def _endpoint(manager, receiver, url: str):
    made = webhooks.create_endpoint(url=url, events=["campaign.sent"], created_by=manager)
    receiver.secret = made.secret
    return made.endpoint


def _deliver(endpoint) -> WebhookDelivery:
    delivery = webhooks.send_test_event(endpoint=endpoint)
    webhooks.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def test_a_name_that_turns_private_after_saving_is_refused_at_delivery(
    dns, checked, receiver, manager, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    dns.answer(NAME, [PUBLIC], ["127.0.0.1"])
    url = f"http://{NAME}:{receiver.port}/hooks/rundbrief"
    assert outbound.resolve(url).addresses == (PUBLIC,)  # public when the endpoint is saved
    endpoint = _endpoint(manager, receiver, url)
    delivery = _deliver(endpoint)
    assert delivery.status == "retrying" and delivery.response_status is None
    assert delivery.error.startswith("not sent: ") and "(127.0.0.1)" in delivery.error
    assert receiver.accepted == [] and receiver.refused == []


@pytest.mark.parametrize(
    ("url", "answer", "message"),
    [
        (f"http://{NAME}/hook", ["10.0.0.7"], "is a private, loopback or reserved address (10.0.0.7)"),
        ("http://169.254.169.254/latest/meta-data/", None, "(169.254.169.254)"),
        (f"http://{NAME}:99999/", ["93.184.216.34"], "The port is not a number from 1 to 65535."),
        (f"http://{NAME}/", [], "cannot be found (DNS)"),
    ],
)
def test_the_form_refuses_a_private_address_when_saving(client, dns, checked, manager, url, answer, message):
    if answer is not None:
        dns.answer(NAME, answer)
    client.force_login(manager)
    response = client.post("/integrations/webhooks/new/", {"url": url, "events": ["campaign.sent"]})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
    dns.answer(NAME, [PUBLIC])
    saved = client.post(
        "/integrations/webhooks/new/", {"url": f"https://{NAME}/hook", "events": ["campaign.sent"]}
    )
    assert saved.status_code == 200 and WebhookEndpoint.objects.get().url == f"https://{NAME}/hook"


@pytest.mark.parametrize(
    "addresses",
    [
        [PUBLIC, "10.1.2.3"],  # one private address among public ones is enough to refuse
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["64:ff9b::a9fe:a9fe"],  # NAT64 form of 169.254.169.254
        ["2002:7f00:1::1"],  # 6to4 form of 127.0.0.1
        ["fe80::1"],
        ["224.0.0.1"],
        ["100.64.0.1"],
    ],
)
def test_every_address_is_checked(dns, checked, receiver, manager, addresses):
    dns.answer(NAME, addresses)
    delivery = _deliver(_endpoint(manager, receiver, f"http://{NAME}:{receiver.port}/"))
    assert delivery.error.startswith("not sent: ") and delivery.status == "retrying"
    assert dns.lookups[NAME] == 1
    assert receiver.accepted == []


def test_the_connection_goes_to_the_address_that_was_checked(dns, checked, receiver, manager):
    # Rebinding between the check and the connection: a second lookup would give the metadata
    # service. There is no second lookup; the receiver gets the request with its name as Host.
    dns.answer(NAME, ["127.0.0.1"], ["169.254.169.254"])
    delivery = _deliver(_endpoint(manager, receiver, f"http://{NAME}:{receiver.port}/hooks/rundbrief?x=1"))
    assert (delivery.status, delivery.response_status, delivery.error) == ("succeeded", 204, "")
    assert dns.lookups[NAME] == 1
    [received] = receiver.accepted
    assert received.headers["Host"] == f"{NAME}:{receiver.port}"
    assert received.event["type"] == "test.ping"
    # The next attempt resolves afresh, and is checked afresh.
    assert _deliver(WebhookDelivery.objects.get().endpoint).error.startswith("not sent: ")
    assert dns.lookups[NAME] == 2


def test_an_address_that_does_not_answer_is_skipped_for_the_next_checked_one(
    dns, checked, receiver, manager, settings
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    closed = socket.socket()
    closed.bind(("127.0.0.2", receiver.port))  # bound, not listening: the connection is refused
    try:
        dns.answer(NAME, ["127.0.0.2", "127.0.0.1"])
        delivery = _deliver(_endpoint(manager, receiver, f"http://{NAME}:{receiver.port}/"))
    finally:
        closed.close()
    assert delivery.status == "succeeded"
    assert len(receiver.accepted) == 1


def test_redirects_are_not_followed(dns, checked, receiver, manager):
    target = Receiver().start()
    try:
        receiver.redirect_to = target.url
        dns.answer(NAME, ["127.0.0.1"])
        delivery = _deliver(_endpoint(manager, receiver, f"http://{NAME}:{receiver.port}/"))
    finally:
        target.stop()
    assert (delivery.status, delivery.response_status) == ("retrying", 307)
    assert delivery.error == f"HTTP 307: redirect to {target.url} not followed"
    assert target.accepted == [] and target.refused == []


def _certificates(tmp_path, name: str) -> tuple[str, ssl.SSLContext]:
    """A CA (its file for WEBHOOK_CA_BUNDLE) and a server context with a certificate for ``name``."""
    now = datetime.now(UTC)

    def certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Rundbrief test CA", ca_key, "Rundbrief test CA", ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = certificate(name, key, "Rundbrief test CA", ca_key, ca=False)
    ca_file, chain_file, key_file = tmp_path / "ca.pem", tmp_path / "chain.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    return str(ca_file), context


@pytest.mark.parametrize("certified", [NAME, "other.example.test"])
def test_https_keeps_the_name_for_sni_and_the_certificate(
    dns, checked, manager, settings, tmp_path, certified
):
    ca_file, context = _certificates(tmp_path, certified)
    settings.WEBHOOK_CA_BUNDLE = ca_file
    secure = Receiver().start(tls=context)
    try:
        dns.answer(NAME, ["127.0.0.1"])
        delivery = _deliver(_endpoint(manager, secure, f"https://{NAME}:{secure.port}/hooks/rundbrief"))
    finally:
        secure.stop()
    assert secure.server_names == [NAME]  # SNI names the host, not 127.0.0.1
    if certified == NAME:
        assert (delivery.status, delivery.response_status) == ("succeeded", 204)
        assert secure.accepted[0].headers["Host"] == f"{NAME}:{secure.port}"
    else:  # the certificate is for another name: nothing is sent
        assert delivery.status == "retrying" and delivery.response_status is None
        assert "SSLError" in delivery.error and secure.accepted == []


def test_an_international_name_is_sent_in_its_ascii_form(dns, checked, receiver, manager):
    dns.answer("xn--bcher-kva.example", ["127.0.0.1"])
    delivery = _deliver(_endpoint(manager, receiver, f"http://bücher.example:{receiver.port}/"))
    assert delivery.status == "succeeded"
    assert receiver.accepted[0].headers["Host"] == f"xn--bcher-kva.example:{receiver.port}"
