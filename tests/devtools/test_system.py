from __future__ import annotations

import os
import shlex
from pathlib import Path

from rundbrief.devtools.system import (
    SystemOptions,
    child_environment,
    process_table,
    redis_answers,
    setup_commands,
)
from tests.journeys.harness import free_port

OPTIONS = SystemOptions(host="127.0.0.1", port=8123, smtp_port=2623, data_dir=Path("/tmp/rb-data"))


def test_without_redis_children_use_the_filesystem_broker_and_never_run_tasks_eagerly():
    env = child_environment(
        {"REDIS_URL": "redis://127.0.0.1:1/0", "CELERY_TASK_ALWAYS_EAGER": "true", "PATH": "/bin"},
        options=OPTIONS,
        use_redis=False,
    )
    assert env["REDIS_URL"] == ""
    assert env["CELERY_FILESYSTEM_DIR"] == "/tmp/rb-data/broker"
    assert env["CELERY_TASK_ALWAYS_EAGER"] == "false"
    assert env["DEBUG"] == "true"
    assert env["SITE_URL"] == "http://127.0.0.1:8123"
    assert (env["INBOUND_SMTP_HOST"], env["INBOUND_SMTP_PORT"]) == ("127.0.0.1", "2623")
    assert env["PATH"] == "/bin"


def test_with_redis_children_keep_it_and_an_explicit_site_url_wins():
    env = child_environment(
        {"REDIS_URL": "redis://127.0.0.1:6379/0", "SITE_URL": "https://news.example.org"},
        options=OPTIONS,
        use_redis=True,
    )
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert env["SITE_URL"] == "https://news.example.org"


def test_process_table_separates_sending_from_inbound_and_keeps_state_in_the_data_dir():
    table = {name: shlex.split(command) for name, command in process_table(OPTIONS).items()}
    assert set(table) == {"web", "worker", "sender", "beat", "smtp"}
    assert table["web"][-3:] == ["runserver", "127.0.0.1:8123", "--noreload"]
    assert table["worker"][table["worker"].index("-Q") + 1] == "default,inbound"
    assert table["sender"][table["sender"].index("-Q") + 1] == "send"
    assert table["beat"][table["beat"].index("--schedule") + 1] == "/tmp/rb-data/celerybeat-schedule"
    assert table["smtp"][-5:] == ["run_inbound_smtp", "--host", "127.0.0.1", "--port", "2623"]


def test_workers_log_warnings_without_banners_by_default_and_every_task_when_verbose():
    quiet = {name: shlex.split(command) for name, command in process_table(OPTIONS).items()}
    for name in ("worker", "sender", "beat"):
        assert "--quiet" in quiet[name]  # no 50-line start-up banner
        assert quiet[name][quiet[name].index("--loglevel") + 1] == "WARNING"
    verbose_options = SystemOptions(**{**OPTIONS.__dict__, "celery_log_level": "INFO"})
    verbose = {name: shlex.split(command) for name, command in process_table(verbose_options).items()}
    for name in ("worker", "sender", "beat"):
        assert "--quiet" not in verbose[name]
        assert verbose[name][verbose[name].index("--loglevel") + 1] == "INFO"


def test_the_imap_intake_runs_only_when_mailboxes_are_configured():
    assert "imap" not in process_table(OPTIONS)
    command = shlex.split(process_table(OPTIONS, imap=True)["imap"])
    assert command[-1] == "run_imap_intake"


def test_setup_migrates_creates_the_cache_table_and_seeds_only_when_asked():
    assert [c[2:] for c in setup_commands(seed=True)] == [
        ["migrate", "--noinput"],
        ["createcachetable"],
        ["seed_demo"],
    ]
    assert ["seed_demo"] not in [c[2:] for c in setup_commands(seed=False)]


def test_redis_answers_only_when_a_server_does():
    assert redis_answers(os.environ["REDIS_URL"])
    assert not redis_answers(f"redis://127.0.0.1:{free_port()}/0")
    assert not redis_answers("")


def test_listening_on_all_interfaces_still_links_to_this_machine():
    options = SystemOptions(host="0.0.0.0", port=8000, smtp_port=2526, data_dir=Path("/tmp/x"))
    env = child_environment({}, options=options, use_redis=False)
    assert env["SITE_URL"] == "http://127.0.0.1:8000"
    assert env["INBOUND_SMTP_HOST"] == "127.0.0.1"
