"""`kill -USR1` makes a running llmpulse command print every thread's stack and go on."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import os, signal, threading, time
from llmpulse.cli.main import enable_stack_dumps
enable_stack_dumps()
threading.Thread(target=time.sleep, args=(5,), name="sleeper", daemon=True).start()
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(0.2)
print("still running")
"""


def test_sigusr1_prints_every_threads_stack_and_the_process_goes_on() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "still running"
    assert "Current thread" in done.stderr and done.stderr.count("Thread 0x") >= 1
    assert 'File "<string>"' in done.stderr  # the main thread, where the signal came
