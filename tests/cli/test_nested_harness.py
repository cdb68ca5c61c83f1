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


def test_a_step_with_a_platform_sign_runs_again_in_the_same_boot(tmp_path):
    count = tmp_path / "count"
    # Fails with the sign on its first two runs, then passes: two retries, the last attempt's result stands.
    flaky = (f"n=$(cat {count} 2>/dev/null || echo 0); echo $((n + 1)) > {count}; "
             f"if [ $n -lt 2 ]; then echo \"attempt $n: vCPU 0: triple fault (KVM_EXIT_SHUTDOWN)\"; exit 36; fi; "
             f"echo passed on $n")
    always = "echo 'vCPU 0: triple fault (KVM_EXIT_SHUTDOWN)'; exit 36"
    plain = "echo 'a failure of our own'; exit 1"
    ok_with_sign = "echo 'vCPU 0: triple fault (KVM_EXIT_SHUTDOWN) is what this step expects'; exit 0"
    res = nested.run_steps([("flaky", flaky, 20), ("always", always, 20), ("plain", plain, 20),
                            ("ok", ok_with_sign, 20)], str(tmp_path / "steps"), mode="direct",
                           retry_signs=("triple fault (KVM_EXIT_SHUTDOWN)",), step_retries=2)
    assert res["flaky"].status == 0 and res["flaky"].output == "passed on 2\n", res["flaky"].output
    assert [r.split(":")[0] for r in res["flaky"].retried] == ["attempt 0", "attempt 1"], res["flaky"].retried
    assert res["always"].status == 36 and len(res["always"].retried) == 2
    assert res["plain"].status == 1 and res["plain"].retried == []
    assert res["ok"].status == 0 and res["ok"].retried == []
    # Without signs nothing is retried: the same flaky step fails on its first run.
    count.unlink()
    res = nested.run_steps([("flaky", flaky, 20)], str(tmp_path / "steps"), mode="direct")
    assert res["flaky"].status == 36 and res["flaky"].retried == []


def test_a_silent_step_is_ended_when_asked(tmp_path):
    t = time.monotonic()
    res = nested.run_steps([("hung", "echo booting; exec sleep 60", 100),
                            ("talks", "for i in 1 2 3 4 5 6; do echo line $i; sleep 2; done", 100)],
                           str(tmp_path / "steps"), mode="direct", silence=6)
    assert time.monotonic() - t < 45
    hung, talks = res["hung"], res["talks"]
    assert hung.status not in (0, None) and hung.output.startswith("booting\n"), hung
    assert hung.output.rstrip().endswith(f"{nested.SILENT_STEP} for 6 s; ended"), hung.output
    assert talks.status == 0 and nested.SILENT_STEP not in talks.output, talks.output
    # A silent step ended this way is retried like a crash when its words are one of the signs.
    res = nested.run_steps([("hung", "echo booting; exec sleep 60", 100)], str(tmp_path / "steps"),
                           mode="direct", silence=6, retry_signs=(nested.SILENT_STEP,), step_retries=1)
    assert res["hung"].status not in (0, None) and len(res["hung"].retried) == 1, res["hung"]
