"""The first published consent wording, in German and English, so signup works out of the box."""

from django.db import migrations

TEXTS = {
    "de": (
        "Ja, ich möchte die ausgewählten Themen per E-Mail erhalten. Ich kann meine Einwilligung "
        "jederzeit widerrufen – über den Abmeldelink in jeder E-Mail oder im Einstellungsbereich. "
        "Gespeichert werden nur meine E-Mail-Adresse, optional mein Name, meine Sprache und meine "
        "Einstellungen sowie der Nachweis dieser Einwilligung (Zeitpunkt, IP-Adresse, Browser)."
    ),
    "en": (
        "Yes, I want to receive the selected topics by email. I can withdraw my consent at any time "
        "using the unsubscribe link in every email or in the preference centre. Only my email "
        "address, optionally my name, my language and my preferences are stored, together with the "
        "proof of this consent (time, IP address, browser)."
    ),
}


def publish(apps, schema_editor):
    ConsentText = apps.get_model("subscribers", "ConsentText")
    for language, text in TEXTS.items():
        ConsentText.objects.get_or_create(version="2026-11-1", language=language, defaults={"text": text})


def unpublish(apps, schema_editor):
    apps.get_model("subscribers", "ConsentText").objects.filter(version="2026-11-1").delete()


class Migration(migrations.Migration):
    dependencies = [("subscribers", "0002_consent_text")]

    operations = [migrations.RunPython(publish, unpublish)]
