# SPDX-License-Identifier: MIT
"""Valid and broken EIFs through `nitrovm describe-eif` and `nitrovm validate-eif`.

Images come from tests/cli/eiflib.py, a writer that shares no code with nitrovm.  A valid image must be accepted
with the PCRs Python computes; each broken one must be refused with a non-zero exit, exactly one `[ Exx ] ...`
line on stderr, and a message of its own that says what is wrong.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

import eiflib
from clicheck import ERROR_LINE, error_line
from eiflib import CMDLINE, KERNEL, METADATA, RAMDISK, SIGNATURE, Image, Section

REPO = Path(__file__).resolve().parents[2]
NITROVM = os.environ.get("NITROVM", str(REPO / "build" / "nitrovm"))


def run(*args):
    p = subprocess.run([NITROVM, *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def write(tmp_path, data, name="image.eif"):
    f = tmp_path / name
    f.write_bytes(data)
    return f


def describe(path):
    rc, out, err = run("describe-eif", "--eif-path", str(path))
    assert rc == 0, err
    return json.loads(out)


# ---- valid images ----------------------------------------------------------------------------------------------

def test_python_pcr_matches_reference_vector():
    assert eiflib.pcr(b"") == eiflib.EMPTY_PCR


def test_pcr_command_empty_input_vector(tmp_path):
    rc, out, err = run("pcr", "--input", str(write(tmp_path, b"", "empty")))
    assert rc == 0, err
    assert json.loads(out) == {"PCR": eiflib.EMPTY_PCR}


@pytest.mark.parametrize("nramdisks", [1, 2, 3])
def test_valid_image_measurements(tmp_path, nramdisks):
    ramdisks = [eiflib.pseudo_random(777 * (i + 1), 10 + i) for i in range(nramdisks)]
    img = eiflib.valid_image(ramdisks=ramdisks)
    path = write(tmp_path, img.pack())
    d = describe(path)
    want = eiflib.measurements(img.sections)
    assert d["EifVersion"] == 4
    assert d["Measurements"] == {"HashAlgorithm": "Sha384 { ... }", **want}
    assert d["CheckCRC"] is True
    assert d["IsSigned"] is False
    assert d["ImageName"] == "test"
    assert d["ImageVersion"] == "1.0"
    if nramdisks == 1:
        # PCR2 of an image with a single ramdisk measures nothing: SHA384(0^48 || SHA384("")).
        assert d["Measurements"]["PCR2"] == eiflib.EMPTY_PCR
    rc, out, err = run("validate-eif", "--eif-path", str(path))
    assert rc == 0, err
    v = json.loads(out)
    assert v["Valid"] is True and v["CheckCRC"] is True
    assert {k: v["Measurements"][k] for k in want} == want


def test_valid_large_sections_use_both_threads(tmp_path):
    """Above a few MiB the measurement runs on two threads; the answer must not change."""
    ramdisks = [eiflib.pseudo_random(3 << 20, 20), eiflib.pseudo_random(5 << 20, 21)]
    img = eiflib.valid_image(ramdisks=ramdisks)
    d = describe(write(tmp_path, img.pack()))
    assert {k: d["Measurements"][k] for k in ("PCR0", "PCR1", "PCR2")} == eiflib.measurements(img.sections)
    assert d["CheckCRC"] is True


@pytest.mark.parametrize("version", [2, 3])
def test_older_versions_without_metadata(tmp_path, version):
    secs = [Section(KERNEL, eiflib.fake_kernel()), Section(CMDLINE, b"console=ttyS0"),
            Section(RAMDISK, eiflib.pseudo_random(100, 5))]
    d = describe(write(tmp_path, Image(secs, version=version).pack()))
    assert d["EifVersion"] == version
    assert d["CheckCRC"] is True
    assert {k: d["Measurements"][k] for k in ("PCR0", "PCR1", "PCR2")} == eiflib.measurements(secs)


def test_arm64_flag_accepted(tmp_path):
    rc, out, err = run("validate-eif", "--eif-path", str(write(tmp_path, eiflib.Image(
        eiflib.standard_sections(), flags=1).pack())))
    assert rc == 0, err
    assert json.loads(out)["Architecture"] == "aarch64"


def test_section_order_does_not_change_pcrs(tmp_path):
    """Metadata between ramdisks (order is "mostly unconstrained") measures the same."""
    base = eiflib.standard_sections()
    moved = [base[0], base[1], base[3], base[2], base[4]]
    d = describe(write(tmp_path, Image(moved).pack()))
    assert {k: d["Measurements"][k] for k in ("PCR0", "PCR1", "PCR2")} == eiflib.measurements(base)


# ---- broken images ---------------------------------------------------------------------------------------------

def valid_bytes():
    return eiflib.valid_image().pack()


def std(**kw):
    return eiflib.standard_sections(**kw)


def with_sections(secs, **kw):
    return Image(secs, **kw).pack()


def truncate_into_last_section():
    return eiflib.fix_crc(valid_bytes()[:-10])


def truncate_into_last_header():
    img = eiflib.valid_image()
    buf = img.pack()
    last = len(buf) - eiflib.SECTION_HEADER_SIZE - len(img.sections[-1].data)
    return eiflib.fix_crc(buf[:last + 5])


def overlapping():
    img = eiflib.valid_image()
    offs = [eiflib.HEADER_SIZE]
    for s in img.sections[:-1]:
        offs.append(offs[-1] + eiflib.SECTION_HEADER_SIZE + len(s.data))
    offs[1] = offs[0] + eiflib.SECTION_HEADER_SIZE  # section 1 claims to start inside section 0's data
    img.offsets = offs
    return img.pack()


def extra_table_entry():
    img = eiflib.valid_image()
    img.sizes = [len(s.data) for s in img.sections] + [123]
    return img.pack()


def size_disagrees():
    secs = std()
    secs[3].header_size = len(secs[3].data) + 1
    return with_sections(secs)


def reserved_section_flags():
    secs = std()
    secs[1].flags = 0x8000
    return with_sections(secs)


def bad_type(t):
    secs = std()
    secs.insert(3, Section(t, b"xyz"))
    return with_sections(secs)


def sig(n=64):
    return Section(SIGNATURE, b"\x81" + b"\0" * (n - 1))


def flip_crc():
    buf = valid_bytes()
    return buf[:eiflib.CRC_OFFSET] + bytes([buf[eiflib.CRC_OFFSET] ^ 0x01]) + buf[eiflib.CRC_OFFSET + 1:]


K, C, M = (lambda: Section(KERNEL, eiflib.fake_kernel())), (lambda: Section(CMDLINE, b"x")), \
    (lambda: Section(METADATA, eiflib.metadata_json()))
R = lambda n=1: Section(RAMDISK, eiflib.pseudo_random(64, n))  # noqa: E731

# name: (image bytes, a fragment of the message that says what is wrong).  Fragments are the reader's wording; the
# test also checks that no two cases print the same message.
CORRUPT = {
    "empty file": (lambda: b"", "the file is 0 bytes"),
    "truncated header": (lambda: valid_bytes()[:100], "100 bytes, shorter than the 548-byte EIF header"),
    "wrong magic": (lambda: b"MZ\x90\x00" + valid_bytes()[4:], "does not start with the EIF magic"),
    "version 5": (lambda: with_sections(std(), version=5), "EIF version 5 is not supported"),
    "version 1": (lambda: with_sections(std(), version=1), "EIF version 1 is not supported"),
    "reserved header flags": (lambda: with_sections(std(), flags=0x0102), "header flags 0x0102 have reserved bits"),
    "33 sections": (lambda: with_sections(std(), num_sections=33), "declares 33 sections, more than the maximum"),
    "1 section": (lambda: with_sections(std(), num_sections=1), "declares 1 section;"),
    "header table entry past num_sections": (extra_table_entry, "has an entry for section 5"),
    "section past the end": (truncate_into_last_section, "(ramdisk) ends at byte"),
    "section header past the end": (truncate_into_last_header, "'s header at byte"),
    "overlapping sections": (overlapping, "sections overlap"),
    "non-contiguous sections": (lambda: Image(std(), gaps={2: b"\0" * 8}).pack(), "must be contiguous"),
    "two kernels": (lambda: with_sections([K(), K(), C(), M(), R()]), "second kernel"),
    "two cmdlines": (lambda: with_sections([K(), C(), C(), M(), R()]), "second cmdline"),
    "two metadata": (lambda: with_sections([K(), C(), M(), M(), R()]), "second metadata section"),
    "two signatures": (lambda: with_sections([K(), C(), M(), R(), sig(), sig()]), "second signature section"),
    "signature too big": (lambda: with_sections([K(), C(), M(), R(), sig(32769)]), "more than the maximum of 32768"),
    "signature in v2": (lambda: with_sections([K(), C(), R(), sig()], version=2), "which EIF version 2 does not have"),
    "metadata in v3": (lambda: with_sections([K(), C(), M(), R()], version=3), "which EIF version 3 does not have"),
    "no metadata in v4": (lambda: with_sections([K(), C(), R()]), "no metadata section"),
    "no kernel": (lambda: with_sections([C(), M(), R()]), "no kernel section"),
    "empty kernel": (lambda: with_sections([Section(KERNEL, b""), C(), M(), R()]), "(kernel) is empty"),
    "ramdisk before kernel": (lambda: with_sections([R(), K(), C(), M()]), "comes before the kernel"),
    "no cmdline": (lambda: with_sections([K(), M(), R()]), "no cmdline section"),
    "no ramdisk": (lambda: with_sections([K(), C(), M()]), "no ramdisk section"),
    "section type 0": (lambda: bad_type(0), "unknown type 0"),
    "section type 6": (lambda: bad_type(6), "unknown type 6"),
    "section size disagrees with header table": (size_disagrees, "by its own header but"),
    "reserved section flags": (reserved_section_flags, "reserved flags 0x8000"),
    "trailing bytes": (lambda: Image(std(), trailing=b"\0" * 16).pack(), "follow the last section"),
    "metadata not JSON": (lambda: with_sections(std(metadata=b"{not json")), "is not a JSON object"),
    "malformed signature": (lambda: with_sections([K(), C(), M(), R(), Section(SIGNATURE, b"\xff\x00")]),
                            "signature section is malformed"),
}

# Not a file that holds an image at all.
SPECIAL = {
    "a directory": ("is a directory",),  # describe-eif: E35 as nitro-cli; validate-eif: E19 as a launch
    "a missing file": ("No such file or directory",),
}

CRC_FRAGMENT = "does not match the contents"


def check_error(rc, out, err, fragment):
    """Non-zero exit, one `[ Exx ]` line naming the problem, exit status = xx, nothing on stdout."""
    assert rc != 0, f"accepted: {out}"
    m = ERROR_LINE.match(error_line(err, returncode=rc))
    assert fragment in m.group(2), f"{fragment!r} not in {m.group(2)!r}"
    assert out == ""
    return m.group(2)


def make_case(tmp_path, name):
    """The path to run the commands on; one name for all, so messages differ only by what is wrong."""
    if name == "a directory":
        (tmp_path / "image.eif").mkdir()
    elif name == "a missing file":
        pass
    else:
        write(tmp_path, CORRUPT[name][0]())
    return tmp_path / "image.eif"


def fragment_of(name):
    return CORRUPT[name][1] if name in CORRUPT else SPECIAL[name][0]


ALL_CASES = list(CORRUPT) + list(SPECIAL)


@pytest.mark.parametrize("command", ["validate-eif", "describe-eif"])
@pytest.mark.parametrize("name", ALL_CASES)
def test_corrupt_image_refused(tmp_path, command, name):
    path = make_case(tmp_path, name)
    rc, out, err = run(command, "--eif-path", str(path))
    msg = check_error(rc, out, err, fragment_of(name))
    if name in ("a missing file", "a directory"):
        # nitro-cli's describe-eif reports every failure of its EIF reader, opening included, as E35
        # (EifParsingError); a launch (run-enclave, and validate-eif) fails to open the file: E19.
        assert rc == (35 if command == "describe-eif" else 19)
    elif name != "malformed signature":
        assert rc == 35  # nitro-cli's E35 EifParsingError
    assert str(path) in msg, "the message should name the file"


def test_every_message_is_distinct(tmp_path):
    """No two cases print the same message, and each case's fragment is found in its own message only."""
    for command in ("validate-eif", "describe-eif"):
        seen = {}
        for i, name in enumerate(ALL_CASES):
            d = tmp_path / f"{command}-{i}"
            d.mkdir()
            path = make_case(d, name)
            rc, out, err = run(command, "--eif-path", str(path))
            msg = check_error(rc, out, err, fragment_of(name)).replace(str(path), "F")
            assert msg not in seen, f"{name!r} and {seen[msg]!r} print the same message: {msg}"
            seen[msg] = name
        for msg, name in seen.items():
            matching = [n for n in ALL_CASES if fragment_of(n) in msg]
            assert matching == [name], f"message {msg!r} of {name!r} also matches {matching}"


def test_wrong_crc(tmp_path):
    path = write(tmp_path, flip_crc())
    rc, out, err = run("validate-eif", "--eif-path", str(path))
    check_error(rc, out, err, CRC_FRAGMENT)
    assert rc == 35
    # describe-eif reports the mismatch instead of failing, like nitro-cli.
    rc, out, err = run("describe-eif", "--eif-path", str(path))
    assert rc == 0, err
    d = json.loads(out)
    assert d["CheckCRC"] is False
    assert d["Measurements"]["PCR0"] == eiflib.measurements(eiflib.valid_image().sections)["PCR0"]


@pytest.mark.parametrize("offset", [0x21C, 0x220 + 4 + 12, -1])
def test_crc_covers_every_byte_but_its_own(tmp_path, offset):
    """A flipped byte in the `unused` field, in a section, or at the very end is caught; the CRC field is not."""
    buf = bytearray(valid_bytes())
    buf[offset] ^= 0x40
    rc, out, err = run("validate-eif", "--eif-path", str(write(tmp_path, bytes(buf))))
    check_error(rc, out, err, CRC_FRAGMENT)
