# SPDX-License-Identifier: MIT
"""nitrovm(1) is written at build time from the binary's --help texts (scripts/gen-man): every command that
`nitrovm --help` lists has its section, holding its own --help text."""
import os
import re
import subprocess

from conftest import nitrovm_path


def test_manual_has_every_command_and_its_help():
    page_path = os.path.join(os.path.dirname(nitrovm_path()), "nitrovm.1")
    assert os.path.exists(page_path), f"{page_path} is not built (ninja -C build)"
    page = open(page_path).read()
    top = subprocess.run([nitrovm_path(), "--help"], capture_output=True, text=True, check=True).stdout
    commands = re.findall(r"^  ([a-z][a-z-]+)\s{2,}", top.split("Commands:", 1)[1].split("\n\n")[0], re.M)
    assert {"run-enclave", "describe-enclaves", "console", "terminate-enclave", "build-enclave"} <= set(commands)
    assert len(commands) == len(set(commands)), f"listed more than once: {commands}"
    for name in commands:
        assert f".SS {name}\n" in page, name
        usage = subprocess.run([nitrovm_path(), name, "--help"], capture_output=True, text=True,
                               check=True).stdout.splitlines()[0]
        assert usage.replace("\\", "\\e") in page, (name, usage)
    assert ".SH QEMU-STYLE FRONT END" in page and ".SH ENVIRONMENT" in page
