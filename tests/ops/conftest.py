"""The campaign fixtures (topic, campaign, SMTP sink) for the monitoring tests."""

from tests.campaigns.conftest import campaign, marketer, owner, smtp_settings, smtp_sink, topic  # noqa: F401
