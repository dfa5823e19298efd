"""The media library: upload an image (recognised by its bytes), list it with its absolute URL,
and serve it publicly, as mail programs fetch it; nothing else in the storage can be reached."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import CampaignImage
from campaigns.rendering import compile_campaign

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

pytestmark = pytest.mark.django_db


@pytest.fixture
def library(client, marketer, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(marketer)
    return client


def test_upload_list_and_serve_an_image(library, client, settings):
    response = library.post(
        reverse("campaigns:images"), {"image": SimpleUploadedFile("Winter Header.png", PNG, "image/png")}
    )
    assert response.status_code == 302
    image = CampaignImage.objects.get()
    assert (image.name, image.content_type, image.size) == ("Winter Header.png", "image/png", len(PNG))
    assert image.file.name.startswith("campaign-images/") and "Winter" not in image.file.name  # a random name
    page = library.get(reverse("campaigns:images")).content.decode()
    url = settings.SITE_URL + reverse("campaigns:image", args=[image.file.name])
    assert f'value="{url}"' in page and f'&lt;mj-image src="{url}"' in page

    client.logout()
    served = client.get(reverse("campaigns:image", args=[image.file.name]))
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == PNG
    compile_campaign(
        mjml_body=f'<mj-section><mj-column><mj-image src="{url}" alt="" /></mj-column></mj-section>'
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [("evil.svg", b"<svg onload=alert(1)></svg>"), ("fake.png", b"not a png at all"), ("x.html", b"<html>")],
)
def test_only_real_images_are_taken(library, name, data):
    response = library.post(
        reverse("campaigns:images"), {"image": SimpleUploadedFile(name, data)}, follow=True
    )
    assert "Only PNG, JPEG, GIF and WebP images can be uploaded." in response.content.decode()
    assert not CampaignImage.objects.exists()


def test_other_stored_files_cannot_be_fetched(library, client, settings, tmp_path):
    (tmp_path / "attachments").mkdir()
    (tmp_path / "attachments" / "secret.png").write_bytes(PNG)
    client.logout()
    assert client.get(reverse("campaigns:image", args=["attachments/secret.png"])).status_code == 404
