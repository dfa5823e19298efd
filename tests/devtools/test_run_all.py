"""`make run` for real: run_all starts every process on the embedded default and Ctrl-C stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.journeys.harness import ROOT, live_environment, port_answers, start_live_system, wait_for

pytestmark = pytest.mark.worker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not collected it yet.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_run_all_starts_everything_without_redis_and_ctrl_c_stops_every_process(tmp_path):
    system = start_live_system(tmp_path)  # the journeys' start-up: run_all on free ports, no Redis
    process, log_path, port, smtp_port = system.process, system.log_path, system.port, system.smtp_port
    try:

        def banner_or_exit():
            assert process.poll() is None, f"run_all exited early:\n{log_path.read_text()[-3000:]}"
            return "Rundbrief is running" in log_path.read_text()

        wait_for(banner_or_exit, timeout=90, what="the start banner")
        assert port_answers(port)
        wait_for(lambda: port_answers(smtp_port), timeout=30, what="the inbound SMTP receiver")
        output = log_path.read_text()
        assert "kombu's filesystem transport" in output
        assert "Demo data added" in output and "rundbrief-demo" in output
        wait_for(lambda: output_has_all_pids(log_path), timeout=30, what="every process to start")
        # Quiet by default: the workers and beat print no 50-line banners that push ours away.
        assert "[tasks]" not in log_path.read_text() and "celery beat v" not in log_path.read_text()
        pids = [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", log_path.read_text())]
        assert all(_alive(pid) for pid in pids)
        time.sleep(1)  # let the workers finish booting, as a person would before pressing Ctrl-C

        os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        assert wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=10, what="children to exit")
        assert not port_answers(port)
        assert "SIGINT received" in log_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def output_has_all_pids(log_path) -> bool:
    names = set(re.findall(r"(\w+) started \(pid=\d+\)", log_path.read_text()))
    return {"web", "worker", "sender", "beat", "smtp"} <= names


def test_a_busy_port_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "run_all", "--port", str(busy), "--data-dir", str(tmp_path)],
            env=live_environment(tmp_path),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"Port {busy} on 127.0.0.1 is already in use" in result.stderr
