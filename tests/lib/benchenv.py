"""Where a benchmark that needs KVM runs: on this host's /dev/kvm when it runs a guest, else inside one nested
outer boot (nested.py), the benchmark and its peer (QEMU -accel kvm) both in that outer guest.

Absolute times in the nested tier are tens of times slower than hardware: only the ratios to the peer measured
in the same run mean anything there, and every benchmark says where it ran.

    import benchenv
    benchenv.run_where_kvm_is()     # first thing in main(): returns here, or re-runs this script nested and exits
"""
import os
import shlex
import sys

import kvm_tier
import nested

WHERE_ENV = "NITROVM_BENCH_WHERE"
# A benchmark's own limits bound its runs; this bounds the outer boot around it (boot included).
NESTED_LIMIT_S = 3600
PASSED_ON = ("NITROVM", "NITROVM_PROBE", "NITROVM_QEMU", "NITROVM_BUSYBOX", "TMPDIR")


def where():
    """"direct", or "nested" when this process already runs inside the outer guest a parent started."""
    return os.environ.get(WHERE_ENV, "direct")


def run_where_kvm_is(argv=None):
    """Return when this process can use /dev/kvm here; else run the same script with the same arguments inside
    one nested boot, stream its output, and exit with its status."""
    argv = list(sys.argv if argv is None else argv)
    name = os.path.relpath(os.path.abspath(argv[0]), kvm_tier.REPO)
    if WHERE_ENV in os.environ:
        print(f"{name}: running inside the nested tier's outer guest (QEMU TCG with emulated AMD SVM): "
              "compare ratios to the peer only", flush=True)
        return
    problem = kvm_tier.direct_kvm_problem()
    if problem is None:
        print(f"{name}: running directly on this host's /dev/kvm", flush=True)
        return
    print(f"{name}: {problem}; running it inside one nested outer boot, with its peer in the same outer guest",
          flush=True)
    env = {k: os.environ[k] for k in PASSED_ON if k in os.environ}
    env[WHERE_ENV] = "nested"
    cmd = "cd " + shlex.quote(os.getcwd()) + " && " + shlex.join(["/usr/bin/python3", os.path.abspath(argv[0])]
                                                                  + argv[1:])
    try:
        status, _ = nested.run_nested(cmd, NESTED_LIMIT_S, env=env, stream=sys.stdout)
    except nested.NestedError as e:
        sys.exit(f"{name}: the nested tier could not run it: {e}")
    sys.exit(status)
