# SPDX-License-Identifier: MIT
"""A fake sysfs tree for native mode (NITROVM_SYSFS_ROOT): CPUs with EC2's x86 topology (or Graviton's, one thread
a core), the Nitro Enclaves CPU pool parameter, and huge-page counts, so the native path's checks and the
simulated driver can be tested on any machine."""
import pathlib


def make(root, cpus=8, pool="1-2,5-6", hugepages_2m=(512, 512), hugepages_1g=(0, 0), node=0, smt=True):
    """cpus CPUs in cores of two (CPU c's sibling is c + cpus/2; smt=False: Graviton's one thread a core), all on
    `node`; `pool` as ne_cpus (None: no driver); (free, nr) huge pages of 2 MiB and 1 GiB on that node and in
    total."""
    root = pathlib.Path(root)
    cpu = root / "sys/devices/system/cpu"
    cpu.mkdir(parents=True, exist_ok=True)
    (cpu / "possible").write_text(f"0-{cpus - 1}\n")
    half = cpus // 2
    for c in range(cpus):
        core = c % half if smt else c
        topo = cpu / f"cpu{c}" / "topology"
        topo.mkdir(parents=True, exist_ok=True)
        (topo / "thread_siblings_list").write_text(f"{core},{core + half}\n" if smt else f"{c}\n")
        (topo / "core_id").write_text(f"{core}\n")
        (topo / "physical_package_id").write_text("0\n")
        (cpu / f"cpu{c}" / f"node{node}").mkdir(exist_ok=True)
    if pool is not None:
        param = root / "sys/module/nitro_enclaves/parameters"
        param.mkdir(parents=True, exist_ok=True)
        (param / "ne_cpus").write_text(pool + "\n")
    for base in (f"sys/devices/system/node/node{node}/hugepages", "sys/kernel/mm/hugepages"):
        for kb, (free, nr) in ((2048, hugepages_2m), (1048576, hugepages_1g)):
            d = root / base / f"hugepages-{kb}kB"
            d.mkdir(parents=True, exist_ok=True)
            (d / "free_hugepages").write_text(f"{free}\n")
            (d / "nr_hugepages").write_text(f"{nr}\n")
    return str(root)
