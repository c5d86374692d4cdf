"""What a container's own processes can do to the machine: one probe script, run inside a
container by the tests of each way of running one (root here, a throwaway user in
``test_sandbox_rootless``, the copy levels in ``test_inside``), and what Docker's defaults allow.

The script prints one ``<probe> yes|no`` line per attempt. Device nodes are made (as root may,
with CAP_MKNOD) in a directory of the root file system, in ``/dev`` and in a volume at ``/vol``;
opening them must fail. The standard nodes must open (``/dev/tty`` fails with ENXIO, as in
Docker, when there is no controlling terminal: the driver answered, not a device policy).
"""

from __future__ import annotations

PROBE = r"""
try() {
    name="$1"; shift
    if "$@" >/dev/null 2>&1; then echo "$name yes"; else echo "$name no"; fi
}
for place in /tmp /dev /vol; do
    mknod $place/made-loop0 b 7 0 2>/dev/null
    mknod $place/made-mem c 1 1 2>/dev/null
    mknod $place/made-zero c 1 5 2>/dev/null
    try "open $place/made-loop0" dd if=$place/made-loop0 of=/dev/null count=0
    try "open $place/made-mem" dd if=$place/made-mem of=/dev/null count=0
    try "open $place/made-zero" head -c1 $place/made-zero
done
for name in null zero full random urandom; do try "open /dev/$name" head -c1 /dev/$name; done
try "write /dev/null" sh -c 'echo x > /dev/null'
if cat /dev/tty 2>&1 | grep -q "No such device or address"; then echo "open /dev/tty driver";
else echo "open /dev/tty refused"; fi
try "unshare user" unshare -U true
try "unshare user+mount as its root" unshare -U -r -m true
try "unshare mount" unshare -m true
try "unshare net" unshare -n true
try "unshare pid" unshare -p -f true
try "mount tmpfs" mount -t tmpfs none /mnt
try "write /proc/sys" sh -c 'echo x > /proc/sys/kernel/domainname'
try "write /sys" sh -c 'echo x > /sys/kernel/uevent_helper'
awk '$5 == "/proc/sys" || $5 == "/sys" { split($6, o, ","); print "mount " $5 " " o[1] }' \
    /proc/self/mountinfo
grep '^Cap' /proc/self/status | tr -d '\t' | sed 's/:/ /'
"""

_DEVICES = {
    f"open {place}/made-{node}": "no"
    for place in ("/tmp", "/dev", "/vol")
    for node in ("loop0", "mem", "zero")
}
_STANDARD = {f"open /dev/{n}": "yes" for n in ("null", "zero", "full", "random", "urandom")}
_NAMESPACES = {
    "unshare user": "no",
    "unshare user+mount as its root": "no",
    "unshare mount": "no",
    "unshare net": "no",
    "unshare pid": "no",
    "mount tmpfs": "no",
}
DOCKER_CAPS = "00000000a80425fb"

# What Docker's defaults give a container's root: the outcome of every probe.
EXPECTED = {
    **_DEVICES,
    **_STANDARD,
    "write /dev/null": "yes",
    "open /dev/tty": "driver",
    **_NAMESPACES,
    "write /proc/sys": "no",
    "write /sys": "no",
    "mount /proc/sys": "ro",
    "mount /sys": "ro",
    "CapInh": "0" * 16,
    "CapPrm": DOCKER_CAPS,
    "CapEff": DOCKER_CAPS,
    "CapBnd": DOCKER_CAPS,
    "CapAmb": "0" * 16,
}

# The copy levels (chroot, ptrace) have no /proc of their own to read and cannot mount
# anything nodev (see the levels' docstrings): what they share is the seccomp filter.
SECCOMP_ONLY = dict(_NAMESPACES)


def outcomes(output: str) -> dict[str, str]:
    """The probe's lines as {probe: outcome}."""
    out: dict[str, str] = {}
    for line in output.splitlines():
        name, _, outcome = line.rpartition(" ")
        if name:
            out[name] = outcome
    return out
