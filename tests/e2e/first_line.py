#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Run a command and time it to the first line of its output that holds MARKER (the figures of
tests/e2e/test_runc_engines.py): prints the command's output as it comes, then "FIRST-LINE <seconds>"
(or "FIRST-LINE none"), and exits with the command's status.

    first_line.py MARKER COMMAND...
"""
import subprocess
import sys
import time


def main():
    marker, cmd = sys.argv[1], sys.argv[2:]
    start = time.monotonic()
    first = None
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for line in p.stdout:
        if first is None and marker.encode() in line:
            first = time.monotonic() - start
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
    status = p.wait()
    print(f"FIRST-LINE {first:.2f}" if first is not None else "FIRST-LINE none", flush=True)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main())
