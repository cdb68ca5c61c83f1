# SPDX-License-Identifier: MIT
"""The nested tier's QEMU runner (tests/lib/nested.py), with a shell standing in for the outer guest's console:
an outer kernel that panicked is ended at once (it had left QEMU spinning for 15 minutes of a clean CI run),
and neither a clean exit nor the time limit changes."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import nested  # noqa: E402


def test_panicked_outer_kernel_ends_at_once():
    t = time.monotonic()
    text, timed_out = nested._run_qemu(
        ["sh", "-c", "echo booting; echo '[   24.5] Kernel panic - not syncing: Fatal exception in interrupt'; "
                     "exec sleep 120"], 100, None)
    assert not timed_out
    assert time.monotonic() - t < nested.PANIC_GRACE + 10
    assert "Kernel panic - not syncing" in text and "the outer guest's kernel panicked" in text, text


def test_clean_exit_and_time_limit_unchanged():
    text, timed_out = nested._run_qemu(["sh", "-c", "echo fine"], 30, None)
    assert (text, timed_out) == ("fine\n", False)
    text, timed_out = nested._run_qemu(["sh", "-c", "echo slow; exec sleep 60"], 2, None)
    assert text.startswith("slow\n") and timed_out
