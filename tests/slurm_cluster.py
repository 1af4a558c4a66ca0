"""A private single-node Slurm cluster on localhost, for tests.

Debian's slurmctld/slurmd/munge (installed with apt-get when missing) run as
root with their own munge key and socket, slurm.conf, state, spool, logs and pid
files in a temporary directory, on free ports. Clients find it through
``SLURM_CONF`` (see ``.env``). Every daemon is started here as a child process
and stopped by its PID on exit.

Two things touch the machine outside the temporary directory:
- /etc/slurm/slurm.conf: the Slurm executor's jobstep plugin drops SLURM_CONF
  before its nested ``srun``, so the same conf must be at the default path. Any
  existing file is backed up and restored on exit (also a file left by an
  earlier cluster that died without cleaning up).
- the Debian packages, installed once and left installed.

Without slurmdbd there is no ``sacct``; finished jobs stay visible in ``squeue
--states=all`` for MinJobAge seconds, which ``jobs()`` relies on.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = {
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "munged": "munge",
}
ETC_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# caffe-test-slurm-cluster"
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SlurmUnavailable(RuntimeError):
    """Slurm is missing and cannot be installed here (not root, no apt-get)."""


def _which(exe: str) -> str | None:
    return shutil.which(exe, path=os.environ.get("PATH", "") + ":" + SBIN_PATH)


def ensure_slurm_installed() -> None:
    """apt-get install the Debian packages whose programs are missing."""
    missing = sorted({pkg for exe, pkg in PACKAGES.items() if _which(exe) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable(f"Slurm packages {missing} missing and not root")
    if _which("apt-get") is None:
        raise SlurmUnavailable(f"Slurm packages {missing} missing and no apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Wait for a concurrent apt/dpkg instead of failing on its lock.
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    subprocess.run(
        ["apt-get", *lock, "update", "-q"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    # policy-rc.d keeps the packages' post-install scripts from starting the
    # system munged/slurmd (there is none in a container, but be safe anyway).
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        subprocess.run(
            ["apt-get", *lock, "install", "-y", "-q", "--no-install-recommends", *missing],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        if own_policy:
            policy.unlink()


def _free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (bound and released; the kernel picks them)."""
    socks, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("0.0.0.0", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _mem_total_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def leftovers(pids: list[int], workdir: Path) -> list[str]:
    """What a stopped cluster left behind: live daemons, its temp dir, its conf."""
    left = []
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        # A zombie (Z) is dead; it only waits for its parent to reap it.
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            left.append(f"process {pid}")
    if workdir.exists():
        left.append(str(workdir))
    if ETC_CONF.exists() and str(workdir) in ETC_CONF.read_text():
        left.append(f"{ETC_CONF} of this cluster")
    return left


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SlurmCluster:
    """``with SlurmCluster() as cluster: subprocess.run([...], env=cluster.env)``"""

    partition = "debug"
    # The node offers one GPU to Slurm, enough to schedule a job that asks
    # for one as on a GPU node. Slurm counts a GPU per device file: /dev/null
    # stands in for /dev/nvidia0 (no cgroups here, so nothing is confined to it).

    def __init__(self, min_job_age: int = 600, start_timeout: float = 90):
        self.min_job_age = min_job_age
        self.start_timeout = start_timeout
        self.host = subprocess.run(
            ["hostname", "-s"], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.cpus = os.cpu_count() or 1
        # Below the machine's memory, else slurmd drains the node (and leave
        # some for the submit host's own Snakemake and mongod).
        self.mem_mb = int(_mem_total_mb() * 0.8)
        self.dir: Path | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.env: dict[str, str] = {}
        self._etc_backup: bytes | None = None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> None:
        if os.geteuid() != 0:
            raise SlurmUnavailable("a private Slurm cluster needs root (slurmd, /etc/slurm)")
        if self.dir is not None:
            raise RuntimeError("cluster already started")
        ensure_slurm_installed()
        # Short path: the munge socket path must fit in sun_path (108 bytes).
        self.dir = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
        for sub in ("state", "spool", "log", "run", "munge"):
            (self.dir / sub).mkdir()
        self.conf = self.dir / "slurm.conf"
        self.munge_socket = self.dir / "munge" / "munge.socket"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        self.env["SLURM_CONF"] = str(self.conf)
        self.env["PATH"] = self.env.get("PATH", "") + ":" + SBIN_PATH

        self._start_munged()
        self.ctld_port, self.slurmd_port = _free_ports(2)
        self.conf.write_text(self._slurm_conf())
        # slurmd reads gres.conf from the folder of its slurm.conf.
        (self.dir / "gres.conf").write_text(f"NodeName={self.host} Name=gpu File=/dev/null\n")
        self._install_etc_conf()
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-f", str(self.conf)])
        self._wait(lambda: self._run(["scontrol", "ping"]).returncode == 0, "slurmctld to answer")
        self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf)])
        self._wait(self._node_idle, "the node to become idle")

    def stop(self) -> None:
        """Cancel our jobs, stop our daemons by PID, restore /etc/slurm, clean up."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            self._run(["scancel", "--full", f"--user={os.geteuid()}"])
            try:  # let slurmstepd finish its jobs so no job process outlives slurmd
                self._wait(lambda: not self.jobs(active_only=True), "jobs to end", 30)
            except (RuntimeError, subprocess.SubprocessError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._restore_etc_conf()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    # -- queries -----------------------------------------------------------
    def jobs(self, active_only: bool = False) -> list[dict[str, str]]:
        """Jobs the controller knows, finished ones included (for MinJobAge s)."""
        fields = ("id", "name", "state", "comment")
        out = self._run(
            ["squeue", "--noheader", "--states=all", "--format=%i|%j|%T|%k"], check=True
        ).stdout
        rows = [dict(zip(fields, line.split("|", 3))) for line in out.splitlines()]
        if active_only:
            done = {
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                "OUT_OF_MEMORY",
                "NODE_FAIL",
                "PREEMPTED",
                "BOOT_FAIL",
                "DEADLINE",
            }
            rows = [r for r in rows if r["state"] not in done]
        return rows

    def submitted_job_ids(self) -> list[int]:
        # Array tasks show as "12_3"; count the array job once.
        return sorted({int(r["id"].split("_")[0]) for r in self.jobs()})

    def show_job(self, job_id: int) -> dict[str, str]:
        """``scontrol show job`` as a dict (values may contain spaces)."""
        out = self._run(["scontrol", "show", "job", str(job_id)], check=True).stdout
        fields = {}
        for line in out.splitlines():
            # One key=value per token, except values running to the end of line.
            for token in line.strip().split(" "):
                if "=" in token:
                    key, value = token.split("=", 1)
                    fields[key] = value
                elif fields:
                    fields[key] += " " + token
        return fields

    def log(self, name: str) -> str:
        path = self.dir / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- internals ---------------------------------------------------------
    def _slurm_conf(self) -> str:
        d = self.dir
        return f"""{MARKER} pid={os.getpid()} dir={d}
ClusterName=caffetest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in containers/gVisor.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
# Finished jobs stay in squeue/scontrol this long: the executor's squeue
# status check and jobs() need it (no slurmdbd, so no sacct).
MinJobAge={self.min_job_age}
KillWait=5
InactiveLimit=0
GresTypes=gpu
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} Gres=gpu:1 State=UNKNOWN
PartitionName={self.partition} Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""  # noqa: E501

    def _start_munged(self) -> None:
        key = self.dir / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        m = self.dir / "munge"
        self._spawn(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={m}/munged.pid",
                f"--log-file={self.dir}/log/munged.log",
                f"--seed-file={m}/munged.seed",
            ],
        )
        self._wait(self.munge_socket.exists, "munged's socket")

    def _install_etc_conf(self) -> None:
        backup = self.dir / "etc-slurm.conf.orig"
        if ETC_CONF.exists():
            current = ETC_CONF.read_bytes()
            stale = self._original_under_stale(current)
            self._etc_backup = current if stale is None else stale
            backup.write_bytes(self._etc_backup)  # survives a crash of this process
        ETC_CONF.parent.mkdir(parents=True, exist_ok=True)
        ETC_CONF.write_bytes(self.conf.read_bytes())

    @staticmethod
    def _original_under_stale(current: bytes) -> bytes | None:
        """If /etc/slurm/slurm.conf is from a dead earlier cluster, the file it
        replaced (b"" for none); None if it is not such a leftover."""
        original = None
        while current.startswith(MARKER.encode()):
            first = current.decode(errors="replace").split("\n", 1)[0]
            meta = dict(kv.split("=", 1) for kv in first[len(MARKER) :].split())
            if _pid_alive(int(meta["pid"])):
                break  # a live cluster (nested use): restore its conf later
            orig = Path(meta["dir"]) / "etc-slurm.conf.orig"
            original = current = orig.read_bytes() if orig.exists() else b""
        return original

    def _restore_etc_conf(self) -> None:
        if self.dir is None or not ETC_CONF.exists():
            return
        ours = f"{MARKER} pid={os.getpid()} dir={self.dir}\n".encode()
        if not ETC_CONF.read_bytes().startswith(ours):
            return  # not ours (never written, or replaced by someone else)
        if self._etc_backup:
            ETC_CONF.write_bytes(self._etc_backup)
        else:
            ETC_CONF.unlink()

    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.dir / "log" / f"{name}.out", "wb")
        self.procs[name] = subprocess.Popen(
            argv,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()

    def _run(self, argv: list[str], check: bool = False, timeout: float = 30):
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, check=check, timeout=timeout
        )

    def _node_idle(self) -> bool:
        out = self._run(["sinfo", "--noheader", "--Node", "--format=%t"]).stdout
        return out.split() == ["idle"]

    def _wait(self, ready, what: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.start_timeout)
        while not ready():
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited ({proc.returncode}) while waiting for {what}:\n"
                        + (self.dir / "log" / f"{name}.out").read_text(errors="replace")[-3000:]
                        + self.log(name)[-3000:]
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"timed out waiting for {what}:\n"
                    + self.log("slurmctld")[-2000:]
                    + self.log("slurmd")[-2000:]
                )
            time.sleep(0.5)
