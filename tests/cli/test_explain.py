"""nitrovm explain --error-code Exx, as nitro-cli's explain behaves: the explanation on stderr, exit status 0,
and "No such error code X" (also status 0) for a code it does not know."""
import pytest

from clicheck import error_line
from conftest import run

CODES = [f"E{n:02d}" for n in range(61)] + ["E70"]


@pytest.mark.parametrize("code", CODES)
def test_every_code_is_explained(nitrovm, code):
    p = run("explain", "--error-code", code)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b""
    text = p.stderr.decode()
    assert text.endswith(".\n") or text.endswith(".)\n"), text
    assert "\n" not in text[:-1], "one paragraph"
    assert not text.startswith("No such error code"), text
    assert len(text.split()) >= 20, f"{code}: too short to say what it means and what to do: {text}"


def test_each_code_has_its_own_text(nitrovm):
    texts = {code: run("explain", "--error-code", code).stderr for code in CODES}
    assert len(set(texts.values())) == len(CODES)


def test_in_our_own_words(nitrovm):
    """nitro-cli's explanations are its own; none of its stock phrasing is reused."""
    for code in CODES:
        text = run("explain", "--error-code", code).stderr.decode()
        assert "Such error appears" not in text and "error backtrace" not in text, f"{code}: {text}"


@pytest.mark.parametrize("code", ["E61", "E69", "E71", "E99", "E5", "E005", "e19", "19", "E1x", "", "Exx"])
def test_unknown_code(nitrovm, code):
    p = run("explain", "--error-code", code)
    assert p.returncode == 0
    assert p.stdout == b""
    assert p.stderr == f"No such error code {code}\n".encode()


def test_help(nitrovm):
    for flag in ("--help", "-h"):
        p = run("explain", flag)
        assert p.returncode == 0 and p.stderr == b""
        assert p.stdout.startswith(b"Usage: nitrovm explain --error-code Exx\n")
        assert b"standard error" in p.stdout and b"E70" in p.stdout
    assert b"explain" in run("--help").stdout


@pytest.mark.parametrize("args,code,fragment", [
    ([], 1, "--error-code"),
    (["--error-code"], 3, "needs a value"),
    (["--code", "E19"], 3, "unknown option '--code'"),
    (["--error-code", "E19", "E20"], 3, "unexpected argument 'E20'"),
])
def test_bad_use(nitrovm, args, code, fragment):
    p = run("explain", *args)
    assert fragment in error_line(p.stderr, code=code, returncode=p.returncode)
