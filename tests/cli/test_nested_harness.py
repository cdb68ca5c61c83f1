# SPDX-License-Identifier: MIT
"""The nested tier's QEMU runner (tests/lib/nested.py), with a shell standing in for the outer guest's console:
an outer kernel that panicked is ended at once (it had left QEMU spinning for 15 minutes of a clean CI run), so
is one that has stayed silent past a step's limit (a hung outer guest had waited out the whole run's limit,
1550 s, twice in one CI run), and neither a clean exit nor the time limit changes."""
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


def test_outer_guest_silent_past_a_step_limit_is_ended(monkeypatch):
    monkeypatch.setattr(nested, "STEP_GRACE", 2)
    t = time.monotonic()
    text, why = nested._run_qemu(
        ["sh", "-c", "echo '== nested step one (limit 1 s)'; echo '== nested step hung-here (limit 1 s)'; "
                     "exec sleep 120"], 100, None)
    assert time.monotonic() - t < 15
    assert why and "did not finish step hung-here" in why and "past its 1 s limit" in why, why
    assert "[nested] the outer guest did not finish step hung-here" in text, text
    e = nested.NestedTimeout(100, "", text, why)
    assert "did not finish step hung-here" in str(e) and "QEMU was killed" in str(e), str(e)


def test_steps_that_keep_their_limits_are_not_ended(monkeypatch):
    monkeypatch.setattr(nested, "STEP_GRACE", 2)
    # Three steps of 1 s limit each take 2 s (within limit + grace); the exit marker ends the watch before the
    # final 4 s of silence, as the outer guest's poweroff would.
    script = ("for s in a b c; do echo \"== nested step $s (limit 1 s)\"; sleep 2; done; "
              "printf 'NESTED-EXIT 0\\n'; sleep 4; echo bye")
    text, why = nested._run_qemu(["sh", "-c", script], 60, None)
    assert why is False, text
    assert text.endswith("NESTED-EXIT 0\nbye\n"), text
