"""build-enclave --metadata and describe-eif, byte for byte as nitro-cli 1.5 writes and prints them.

nitro-cli reads the file into a serde_json::Value and writes the metadata section with serde_json::to_vec;
describe-eif reads the section back and prints it with to_string_pretty, the custom keys flattened into
"Metadata".  So the section holds the custom metadata re-serialised (keys sorted at every depth, numbers as
serde_json reads and prints them, strings re-escaped), not the file's text.  The expected texts below are what
serde_json 1.0.135 (nitro-cli's, default features) produces for these inputs."""
import json

import pytest

import eiflib
from clicheck import error_line
from conftest import run

SOURCE_DATE_EPOCH = {"SOURCE_DATE_EPOCH": "1700000000"}

# A release pipeline's metadata, written by hand: keys out of order at every depth, floats in several spellings,
# integers past i64/u64, non-ASCII text, escapes, and a key given twice.
PUBLISHED = r'''{
  "version": "2.3.1",
  "git": {"commit": "9f3c2ab", "dirty": false, "branch": "main", "Tags": ["v2.3.1", "stable"]},
  "build": {"number": 1042, "duration_s": 73.250, "started": 1.7e9, "host": {"os": "linux", "arch": "x86_64"}},
  "limits": {"max_rps": 1e3, "ratio": 0.1, "tiny": 1.5e-7, "huge": 1e21, "neg_zero": -0.0, "zero": 0,
             "pi": 3.141592653589793238, "sci": 6.02214076E+23, "third": 0.333333333333333333333,
             "lossy": 3.6045419051530900e-27, "almost_int": 7.13031705966457172e14},
  "ids": [18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809,
          12345678901234567890123, -0, 1.0, 100],
  "maintainer": "Zo\u00eb M\u00fcller <zoe@example.com>",
  "team": "plateforme-s\u00e9curit\u00e9 🚀",
  "notes": "line1\nline2\ttab \"quoted\" back\\slash \/ solidus \u0001\u001f\u007f \ud83d\ude80",
  "Owner": "ops",
  "empty": {}, "none": null, "list": [],
  "a": 1, "a": {"replaced": true}
}
'''

# serde_json::to_vec of it.  "third" and "lossy" are not the doubles nearest to their text: serde_json without
# its float_roundtrip feature scales the significand by one power of ten, and nitro-cli keeps what it computed.
PUBLISHED_COMPACT = (
    '{"Owner":"ops","a":{"replaced":true},"build":{"duration_s":73.25,"host":{"arch":"x86_64","os":"linux"},'
    '"number":1042,"started":1700000000.0},"empty":{},"git":{"Tags":["v2.3.1","stable"],"branch":"main",'
    '"commit":"9f3c2ab","dirty":false},"ids":[18446744073709551615,1.8446744073709552e19,-9223372036854775808,'
    '-9.223372036854776e18,1.2345678901234568e22,-0.0,1.0,100],"limits":{"almost_int":713031705966457.2,'
    '"huge":1e21,"lossy":3.6045419051530894e-27,"max_rps":1000.0,"neg_zero":-0.0,"pi":3.141592653589793,'
    '"ratio":0.1,"sci":6.02214076e23,"third":0.33333333333333337,"tiny":1.5e-7,"zero":0},"list":[],'
    '"maintainer":"Zoë Müller <zoe@example.com>","none":null,'
    '"notes":"line1\\nline2\\ttab \\"quoted\\" back\\\\slash / solidus \\u0001\\u001f\x7f 🚀",'
    '"team":"plateforme-sécurité 🚀","version":"2.3.1"}')

# describe-eif's "Metadata" for it: serde_json's pretty layout, the custom keys after DockerInfo.
PUBLISHED_DESCRIBED = '''  "Metadata": {
    "BuildTime": "2023-11-14T22:13:20+00:00",
    "BuildTool": "nitrovm",
    "BuildToolVersion": "VERSION",
    "OperatingSystem": "Linux",
    "KernelVersion": "6.12.0",
    "DockerInfo": null,
    "Owner": "ops",
    "a": {
      "replaced": true
    },
    "build": {
      "duration_s": 73.25,
      "host": {
        "arch": "x86_64",
        "os": "linux"
      },
      "number": 1042,
      "started": 1700000000.0
    },
    "empty": {},
    "git": {
      "Tags": [
        "v2.3.1",
        "stable"
      ],
      "branch": "main",
      "commit": "9f3c2ab",
      "dirty": false
    },
    "ids": [
      18446744073709551615,
      1.8446744073709552e19,
      -9223372036854775808,
      -9.223372036854776e18,
      1.2345678901234568e22,
      -0.0,
      1.0,
      100
    ],
    "limits": {
      "almost_int": 713031705966457.2,
      "huge": 1e21,
      "lossy": 3.6045419051530894e-27,
      "max_rps": 1000.0,
      "neg_zero": -0.0,
      "pi": 3.141592653589793,
      "ratio": 0.1,
      "sci": 6.02214076e23,
      "third": 0.33333333333333337,
      "tiny": 1.5e-7,
      "zero": 0
    },
    "list": [],
    "maintainer": "Zoë Müller <zoe@example.com>",
    "none": null,
    "notes": "line1\\nline2\\ttab \\"quoted\\" back\\\\slash / solidus \\u0001\\u001f\x7f 🚀",
    "team": "plateforme-sécurité 🚀",
    "version": "2.3.1"
  }
}
'''


def version():
    return run("--version", check=True).stdout.decode().split()[1]


def build(inputs, tmp_path, metadata_text, name="img.eif"):
    meta = tmp_path / "meta.json"
    meta.write_bytes(metadata_text.encode() if isinstance(metadata_text, str) else metadata_text)
    out = tmp_path / name
    p = run("build-enclave", "--kernel", inputs["kernel"], "--cmdline", "console=ttyS0", "--ramdisk", inputs["r0"],
            "--name", "img", "--version", "1.0", "--metadata", meta, "--output-file", out, env=SOURCE_DATE_EPOCH)
    return p, out


def metadata_section(path):
    return [s.data for s in eiflib.read_sections(path.read_bytes()) if s.type == eiflib.METADATA][0]


def expected_section(custom):
    return ('{"ImageName":"img","ImageVersion":"1.0","BuildMetadata":{"BuildTime":"2023-11-14T22:13:20+00:00",'
            f'"BuildTool":"nitrovm","BuildToolVersion":"{version()}","OperatingSystem":"Linux",'
            f'"KernelVersion":"6.12.0"}},"DockerInfo":null,"CustomMetadata":{custom}}}').encode()


def described_metadata(path):
    """describe-eif's text from the "Metadata" line on, exactly as printed."""
    d = run("describe-eif", "--eif-path", path)
    assert d.returncode == 0, d.stderr
    text = d.stdout.decode()
    return text[text.index('  "Metadata": {'):]


def test_section_holds_the_metadata_as_nitro_cli_writes_it(nitrovm, inputs, tmp_path):
    p, out = build(inputs, tmp_path, PUBLISHED)
    assert p.returncode == 0, p.stderr
    assert metadata_section(out) == expected_section(PUBLISHED_COMPACT)


def test_describe_eif_prints_it_as_nitro_cli(nitrovm, inputs, tmp_path):
    p, out = build(inputs, tmp_path, PUBLISHED)
    assert p.returncode == 0, p.stderr
    assert described_metadata(out) == PUBLISHED_DESCRIBED.replace("VERSION", version())


def test_the_files_text_does_not_matter_only_its_value(nitrovm, inputs, tmp_path):
    """Whitespace, key order, escapes and number spellings vanish: two spellings of one value, one image."""
    a, out_a = build(inputs, tmp_path, '{"b": [1.0, 1e3, "\\u00e9"], "a": {"y": 2, "x": 1}}\n', "a.eif")
    b, out_b = build(inputs, tmp_path, '{"a":{"x":1,"y":2},"b":[1.00,1000.0,"é"]}', "b.eif")
    assert a.returncode == 0 and b.returncode == 0
    assert out_a.read_bytes() == out_b.read_bytes()
    assert metadata_section(out_a) == expected_section('{"a":{"x":1,"y":2},"b":[1.0,1000.0,"é"]}')


def test_a_custom_key_named_like_a_build_key_is_printed_twice(nitrovm, inputs, tmp_path):
    """serde's flatten writes the custom keys after the struct's own, repeating a name rather than replacing
    it."""
    p, out = build(inputs, tmp_path, '{"z": 1, "BuildTime": "from the file", "DockerInfo": {"b": 1, "a": 2}}')
    assert p.returncode == 0, p.stderr
    assert described_metadata(out) == f'''  "Metadata": {{
    "BuildTime": "2023-11-14T22:13:20+00:00",
    "BuildTool": "nitrovm",
    "BuildToolVersion": "{version()}",
    "OperatingSystem": "Linux",
    "KernelVersion": "6.12.0",
    "DockerInfo": null,
    "BuildTime": "from the file",
    "DockerInfo": {{
      "a": 2,
      "b": 1
    }},
    "z": 1
  }}
}}
'''


@pytest.mark.parametrize("text,kind", [("[1, 2]", "an array"), ('"release"', "a string"), ("5", "a number"),
                                       ("true", "a boolean")])
def test_metadata_that_is_not_an_object(nitrovm, inputs, tmp_path, text, kind):
    """nitro-cli builds the image, but its describe-eif cannot flatten the value into "Metadata": E17."""
    p, out = build(inputs, tmp_path, text)
    assert p.returncode == 0, p.stderr
    compact = json.dumps(json.loads(text), separators=(",", ":"))
    assert metadata_section(out) == expected_section(compact)
    d = run("describe-eif", "--eif-path", out)
    line = error_line(d.stderr, code=17, returncode=d.returncode)
    assert kind in line and str(out) in line, line
    assert d.stdout == b""
    assert run("validate-eif", "--eif-path", out).returncode == 0


def test_null_metadata_adds_no_keys(nitrovm, inputs, tmp_path):
    p, out = build(inputs, tmp_path, " null ")
    assert p.returncode == 0, p.stderr
    assert metadata_section(out) == expected_section("null")
    assert described_metadata(out).endswith('    "DockerInfo": null\n  }\n}\n')


def test_nesting_limit(nitrovm, inputs, tmp_path):
    """serde_json refuses a 128th level.  A file nested 127 deep builds, but inside the section it is one level
    deeper, so nitro-cli's describe-eif refuses the image (E35); a 128-deep file does not build (E48)."""
    p, out = build(inputs, tmp_path, "[" * 127 + "]" * 127)
    assert p.returncode == 0, p.stderr
    line = error_line(run("describe-eif", "--eif-path", out).stderr, code=35)
    assert "127 levels" in line, line
    p, out = build(inputs, tmp_path, "[" * 128 + "]" * 128, "deep.eif")
    assert "127 levels" in error_line(p.stderr, code=48, returncode=p.returncode)
    assert not out.exists()


@pytest.mark.parametrize("text,why", [
    ('{"a": 1,}', "trailing comma"),
    ('{"a": 01}', "leading zero"),
    ('{"a": 1e400}', "out of range"),
    ('{"a": "\\ud83d"}', "surrogate"),
    ('{"a": "\t"}', "control character"),
    (b'{"a": "\xc3"}', "UTF-8"),
    (b'\xef\xbb\xbf{}', "expected a JSON value"),
    ('{"a": 1} {}', "more follows"),
    ("", "ends where a value should be"),
    ('{"a\\u0000b": 1}', "U+0000"),
])
def test_metadata_serde_json_refuses(nitrovm, inputs, tmp_path, text, why):
    p, out = build(inputs, tmp_path, text)
    line = error_line(p.stderr, code=48, returncode=p.returncode)
    assert "the custom metadata file is not valid JSON" in line and why in line, line
    assert not out.exists()


def image_with_metadata(tmp_path, section: bytes):
    path = tmp_path / "other.eif"
    path.write_bytes(eiflib.valid_image(metadata=section).pack())
    return path


def test_describe_eif_reads_another_builders_section_as_nitro_cli(nitrovm, tmp_path):
    """A section written by some other tool, keys in its own order and numbers in its own spelling: nitro-cli
    prints what serde_json reads, sorted and in serde_json's number form, unknown fields ignored."""
    section = (b'{"ImageVersion":"7","ImageName":"other-tool","Extra":1,"BuildMetadata":{"KernelVersion":"5.10",'
               b'"OperatingSystem":"Linux","BuildToolVersion":"1","BuildTool":"t","BuildTime":"x"},'
               b'"DockerInfo":{"Id":"sha256:ab","Config":{"Env":["B=1","A=2"],"Cmd":null},"Size":1.0E2},'
               b'"CustomMetadata":{"z":0.50,"y":[1E1,2e-9]}}')
    path = image_with_metadata(tmp_path, section)
    d = run("describe-eif", "--eif-path", path)
    assert d.returncode == 0, d.stderr
    j = json.loads(d.stdout)
    assert j["ImageName"] == "other-tool" and j["ImageVersion"] == "7"
    assert described_metadata(path) == '''  "Metadata": {
    "BuildTime": "x",
    "BuildTool": "t",
    "BuildToolVersion": "1",
    "OperatingSystem": "Linux",
    "KernelVersion": "5.10",
    "DockerInfo": {
      "Config": {
        "Cmd": null,
        "Env": [
          "B=1",
          "A=2"
        ]
      },
      "Id": "sha256:ab",
      "Size": 100.0
    },
    "y": [
      10.0,
      2e-9
    ],
    "z": 0.5
  }
}
'''


def test_a_null_section_is_no_metadata(nitrovm, tmp_path):
    """nitro-cli reads the section as Option<EifIdentityInfo>: null is None, and describe-eif shows no names."""
    d = run("describe-eif", "--eif-path", image_with_metadata(tmp_path, b"null"))
    assert d.returncode == 0, d.stderr
    assert list(json.loads(d.stdout)) == ["EifVersion", "Measurements", "IsSigned", "CheckCRC"]


@pytest.mark.parametrize("drop,fragment", [
    ("CustomMetadata", 'has no "CustomMetadata"'),
    ("DockerInfo", 'has no "DockerInfo"'),
    ("ImageName", 'has no "ImageName"'),
    ("BuildMetadata.KernelVersion", 'no string "KernelVersion"'),
])
def test_a_section_nitro_clis_reader_refuses(nitrovm, tmp_path, drop, fragment):
    """Fields nitro-cli's EifIdentityInfo requires: without one its reader fails, and describe-eif with E35."""
    md = json.loads(eiflib.metadata_json())
    if "." in drop:
        outer, inner = drop.split(".")
        del md[outer][inner]
    else:
        del md[drop]
    path = image_with_metadata(tmp_path, json.dumps(md, separators=(",", ":")).encode())
    for cmd in ("describe-eif", "validate-eif"):
        line = error_line(run(cmd, "--eif-path", path).stderr, code=35)
        assert fragment in line, line
