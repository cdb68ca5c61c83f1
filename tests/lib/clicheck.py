"""How a refused nitrovm command looks, checked the same way in every tier: exactly one `[ Exx ] sentence` line on
stderr (nitrovm's progress lines aside), and the exit status is xx (1 for E00)."""
import re

ERROR_LINE = re.compile(r"^\[ E(\d\d) \] (.+)$")
# Lines a launch prints on stderr before it can fail: which hypervisor it chose, nitro-cli's progress line,
# and notices said once ("nitrovm: ..."), such as where state is kept.
PROGRESS = ("Start allocating memory", "Using the ", "nitrovm: ")


def error_line(stderr, code=None, returncode=None):
    """The one error line of stderr (str or bytes).  With code, it must be E<code>; with returncode, the exit
    status must be that number (1 for E00)."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    lines = [l for l in stderr.splitlines() if l.strip() and not l.startswith(PROGRESS)]
    assert len(lines) == 1, f"expected one `[ Exx ] sentence` line on stderr, got:\n{stderr}"
    m = ERROR_LINE.match(lines[0])
    assert m, f"not an `[ Exx ] sentence` line: {lines[0]!r}"
    number = int(m.group(1))
    if code is not None:
        assert number == code, f"E{number:02d}, expected E{code:02d}: {lines[0]}"
    if returncode is not None:
        assert returncode == (number or 1), f"exit status {returncode} for {lines[0]}"
    return lines[0]


def error_lines(text, code):
    """The `[ E<code> ]` lines of a text that mixes them with other output (an enclave's console)."""
    return [l for l in text.splitlines() if l.startswith(f"[ E{code:02d} ] ")]
