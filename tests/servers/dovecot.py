"""A throwaway Dovecot IMAP server for tests, started from its own temporary config.

Runs Debian's `dovecot` (package dovecot-imapd) on a free loopback port with a
passwd-file of test users and maildirs owned by the `dovecot` user, plus helpers to
seed mail and to inject the faults a real server shows: kicked sessions and a changed
UIDVALIDITY. `Dovecot(tls=True)` adds a self-signed CA, `ssl = required` (STARTTLS on
`port`) and an implicit-TLS port. Also holds `make_tls_files`, which the SMTP test
server shares. Needs root: the mail must belong to the `dovecot` user, not to uid 0.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient

DOVECOT_BIN = "/usr/sbin/dovecot"
DOVEADM_BIN = "/usr/bin/doveadm"
HOST = "127.0.0.1"
# Dovecot counts a connection whose remote IP equals its local IP as "secured" and then
# allows a password in clear even with `ssl = required`. The TLS server listens on a
# second loopback address so that the client (from 127.0.0.1) really must use TLS.
TLS_HOST = "127.0.0.2"
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]")
# Multiappend batches: one round trip per batch is what makes seeding fast (~10k msg/s
# of 4.4 KiB against ~1.3k msg/s for one APPEND per message); the byte cap bounds memory.
_BATCH_COUNT = 500
_BATCH_BYTES = 16 * 1024 * 1024

_CONFIG = string.Template("""\
# Written by tests/servers/dovecot.py; everything lives under ${root}.
base_dir = ${root}/run
state_dir = ${root}/state
log_path = ${root}/dovecot.log
protocols = imap
listen = ${host}
first_valid_uid = ${mail_uid}
mail_location = maildir:~/Maildir
# A test server loses nothing worth an fsync.
mail_fsync = never
auth_mechanisms = plain login
auth_verbose = yes
# The default 2 s delay would slow every wrong-password test (failures are still
# answered on a 0.5 s tick).
auth_failure_delay = 0
${ssl_settings}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${root}/passwd.d/%u
}
userdb {
  driver = static
  args = uid=${mail_uid} gid=${mail_gid} home=${root}/home/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Junk {
    special_use = \\Junk
  }
  mailbox Trash {
    special_use = \\Trash
  }
}
service anvil {
  # Unreachable for auth (which runs as dovecot), so auth-penalty is off: otherwise one
  # wrong-password test delays every later login from 127.0.0.1 by 4-15 s.
  # (login_trusted_networks did not lift the penalty on 2.3.19.)
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = ${host}
    port = ${port}
  }
  inet_listener imaps {
    address = ${host}
    port = ${imaps_port}
    ssl = yes
  }
}
protocol imap {
  # Tests open many sessions per user; Dovecot's default of 10 would refuse some.
  mail_max_userip_connections = 100
}
""")


class DovecotError(RuntimeError):
    """Dovecot did not start, or a doveadm command failed; the message says why."""


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a one-off CA and a server certificate for localhost and loopback IPs."""

    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class ImapUser:
    """A mailbox owner on a test Dovecot."""

    server: Dovecot
    name: str
    password: str


def free_port(host: str = HOST) -> int:
    """Return a port of `host` that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_tls_files(directory: Path, ca_name: str = "inquiryd test CA") -> TlsFiles:
    """Create a self-signed CA and a server certificate it signed, valid for 2 days.

    EC P-256 keys: generated in milliseconds, where RSA takes a noticeable fraction of
    a second. The extensions (CA basicConstraints, key identifiers, SAN) are those
    strict verifiers such as Python 3.13's VERIFY_X509_STRICT insist on.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca_key, csr, ext = directory / "ca.key", directory / "server.csr", directory / "server.ext"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", files.ca_file, "-days", "2",
             "-subj", f"/CN={ca_name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", *ec, "-keyout", files.key_file, "-out", csr, "-subj", "/CN=localhost")
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=DNS:localhost,IP:{HOST},IP:{TLS_HOST}\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl("x509", "-req", "-in", csr, "-CA", files.ca_file, "-CAkey", ca_key,
             "-CAcreateserial", "-out", files.cert_file, "-days", "2", "-extfile", ext)
    return files


def _expand_uid_set(text: bytes) -> list[int]:
    """`b"3,5:7"` -> [3, 5, 6, 7] (the uid-set of an APPENDUID response)."""
    uids: list[int] = []
    for part in text.split(b","):
        first, _, last = part.partition(b":")
        uids.extend(range(int(first), int(last or first) + 1))
    return uids


def _appended_uids(response: bytes) -> list[int]:
    match = _APPENDUID.search(response)
    if match is None:
        raise DovecotError(f"no APPENDUID in the APPEND response {response!r}")
    return _expand_uid_set(match.group(2))


def _batches(raws: Iterable[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for raw in raws:
        if batch and (len(batch) >= _BATCH_COUNT or size + len(raw) > _BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(raw)
        size += len(raw)
    if batch:
        yield batch


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the master and every child left: they form their own process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Last resort at garbage collection or interpreter exit: never leave a master behind."""
    if proc.poll() is None:
        _kill_group(proc)


class Dovecot:
    """One Dovecot master process with its config, users and mail under a temp dir."""

    def __init__(self, *, tls: bool = False, start_timeout: float = 10.0) -> None:
        self.tls = tls
        self.host = TLS_HOST if tls else HOST
        self.start_timeout = start_timeout
        self.port = 0
        self.imaps_port: int | None = None
        self.ca_file: Path | None = None
        self._tls_files: TlsFiles | None = None
        self._users: dict[str, str] = {}
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.root = self._make_root()

    # -- life cycle ---------------------------------------------------------------

    @staticmethod
    def _make_root() -> Path:
        # Under /tmp itself (not $TMPDIR, which may sit below a 0700 home): every
        # directory above the config and the mail must be traversable by `dovecot`,
        # or auth fails with "Temporary authentication failure".
        root = Path(tempfile.mkdtemp(prefix="inquiryd-dovecot-", dir="/tmp"))
        root.chmod(0o755)
        for name in ("run", "state", "passwd.d", "home"):
            (root / name).mkdir(mode=0o755)
        return root

    @property
    def config_file(self) -> Path:
        return self.root / "dovecot.conf"

    def start(self) -> None:
        """Start the master and return once its ports accept connections."""
        if self._proc is not None:
            raise DovecotError("already started")
        if os.geteuid() != 0:
            raise DovecotError("the test Dovecot must run as root (mail belongs to `dovecot`)")
        mail = pwd.getpwnam("dovecot")
        os.chown(self.root / "home", mail.pw_uid, mail.pw_gid)
        if self.tls:
            self._tls_files = make_tls_files(self.root / "tls")
            self.ca_file = self._tls_files.ca_file
        for attempt in range(3):
            # The free port may be taken between our probe and Dovecot's bind: retry.
            try:
                self._start_once()
                return
            except DovecotError:
                if attempt == 2 or "Address already in use" not in self._start_errors():
                    raise

    def _start_once(self) -> None:
        self.port = free_port(self.host)
        self.imaps_port = free_port(self.host) if self.tls else None
        self.config_file.write_text(self._render_config())
        stderr = (self.root / "stderr.log").open("ab")
        with stderr:
            # -F keeps the master in the foreground, so we own its pid and can wait on it.
            self._proc = subprocess.Popen(
                [DOVECOT_BIN, "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                start_new_session=True,  # its own process group, for _kill_group
            )
        weakref.finalize(self, _terminate, self._proc)
        self._wait_until_listening()

    def _render_config(self) -> str:
        mail = pwd.getpwnam("dovecot")
        if self._tls_files is None:
            ssl_settings = "ssl = no\ndisable_plaintext_auth = no"
        else:
            ssl_settings = (f"ssl = required\nssl_cert = <{self._tls_files.cert_file}\n"
                            f"ssl_key = <{self._tls_files.key_file}")
        return _CONFIG.substitute(
            root=self.root, host=self.host, port=self.port, imaps_port=self.imaps_port or 0,
            mail_uid=mail.pw_uid, mail_gid=mail.pw_gid, ssl_settings=ssl_settings,
        )

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        ports = [p for p in (self.port, self.imaps_port) if p]
        while ports:
            assert self._proc is not None
            if self._proc.poll() is not None:
                self._proc = None
                raise DovecotError(f"dovecot exited at start:\n{self._start_errors()}")
            if time.monotonic() > deadline:
                self.stop(cleanup=False)
                raise DovecotError(f"dovecot did not listen in time:\n{self._start_errors()}")
            try:
                socket.create_connection((self.host, ports[0]), timeout=0.5).close()
                ports.pop(0)
            except OSError:
                time.sleep(0.01)

    def _start_errors(self) -> str:
        stderr = self.root / "stderr.log"
        return (stderr.read_text(errors="replace") if stderr.exists() else "") + self.log_text()

    def stop(self, grace: float = 0.3, *, cleanup: bool = True) -> None:
        """Stop the master (SIGTERM, then SIGKILL to its group); remove the temp dir."""
        proc, self._proc = self._proc, None
        if proc is not None:
            # SIGTERM is what `doveadm stop` sends, but doveadm then polls the pid until
            # it is gone, and our unreaped child stays a zombie: it always waited 3 s.
            proc.terminate()
            # Mail processes end within milliseconds; the master then lingers 1-5 s
            # with its log process, which a throwaway server need not wait for.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
            _kill_group(proc)
        if cleanup:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- users ----------------------------------------------------------------------

    def add_user(self, name: str, password: str | None = None) -> ImapUser:
        """Add a user (random password unless given); it can log in at once.

        Changing the password of an existing user may take up to a second to be seen.
        """
        password = password if password is not None else secrets.token_urlsafe(12)
        if not re.fullmatch(r"[A-Za-z0-9._@+-]+", name) or ":" in password or "\n" in password:
            raise ValueError(f"unusable test user or password: {name!r}")
        with self._lock:
            self._users[name] = password
            self._write_passwd(name, password)
        return ImapUser(self, name, password)

    def _write_passwd(self, name: str, password: str) -> None:
        # One passwd-file per user (the passdb path ends in %u): Dovecot re-checks a
        # passwd-file at most once a second, so a user added to a shared file just
        # after a login would be "unknown" for up to a second; a new file is read at
        # once. Replaced, never rewritten, so no half-written file is ever read.
        final = self.root / "passwd.d" / name
        tmp = final.with_name(f".{name}.tmp")
        tmp.write_text(f"{name}:{{PLAIN}}{password}\n")
        tmp.chmod(0o644)
        os.replace(tmp, final)

    # -- IMAP access ----------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context trusting this server's CA (TLS variant only)."""
        if self.ca_file is None:
            raise DovecotError("this Dovecot was started without tls=True")
        return ssl.create_default_context(cafile=str(self.ca_file))

    def connect(self, user: str, *, timeout: float = 10.0) -> IMAPClient:
        """A logged-in IMAPClient: plain for the plain server, implicit TLS otherwise."""
        if self.tls:
            assert self.imaps_port is not None
            client = IMAPClient(self.host, self.imaps_port, ssl=True,
                                ssl_context=self.ssl_context(), timeout=timeout)
        else:
            # imapclient defaults to ssl=True: a plain port then fails WRONG_VERSION_NUMBER.
            client = IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        client.login(user, self._users[user])
        return client

    @contextlib.contextmanager
    def _session(self, user: str, folder: str | None = None) -> Iterator[IMAPClient]:
        with self.connect(user) as client:
            if folder is not None:
                # EXAMINE: reading must not clear \Recent or change anything else.
                client.select_folder(folder, readonly=True)
            yield client

    def append(self, user: str, folder: str, raw: bytes, flags: Sequence[str | bytes] = (),
               msg_time: datetime | None = None) -> int:
        """APPEND one message and return its UID."""
        with self._session(user) as client:
            response = client.append(folder, raw, flags=flags, msg_time=msg_time)
        return _appended_uids(response)[0]

    def append_many(self, user: str, folder: str, raws: Iterable[bytes],
                    flags: Sequence[str | bytes] = ()) -> list[int]:
        """APPEND many messages over one connection (MULTIAPPEND batches); their UIDs."""
        uids: list[int] = []
        with self._session(user) as client:
            for batch in _batches(raws):
                items = [{"msg": raw, "flags": flags} for raw in batch]
                _typ, data = client.multiappend(folder, items)
                uids.extend(_appended_uids(data[0]))
        return uids

    def create_folder(self, user: str, folder: str) -> None:
        with self._session(user) as client:
            client.create_folder(folder)

    def uids(self, user: str, folder: str) -> list[int]:
        with self._session(user, folder) as client:
            return sorted(client.search("ALL"))

    def fetch_raw(self, user: str, folder: str, uid: int) -> bytes:
        """The message's exact bytes, read with BODY.PEEK[] so \\Seen stays unset."""
        with self._session(user, folder) as client:
            data = client.fetch([uid], ["BODY.PEEK[]"])
        if uid not in data:
            raise KeyError(f"no UID {uid} in {folder!r} of {user!r}")
        return bytes(data[uid][b"BODY[]"])

    def flags(self, user: str, folder: str, uid: int) -> tuple[bytes, ...]:
        with self._session(user, folder) as client:
            data = client.fetch([uid], ["FLAGS"])
        if uid not in data:
            raise KeyError(f"no UID {uid} in {folder!r} of {user!r}")
        return tuple(data[uid][b"FLAGS"])

    # -- faults and administration --------------------------------------------------

    def doveadm(self, *args: str) -> str:
        """Run `doveadm -c CONFIG ARGS...` and return its stdout; DovecotError on failure."""
        done = subprocess.run([DOVEADM_BIN, "-c", str(self.config_file), *args],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise DovecotError(f"doveadm {' '.join(args)} exited {done.returncode}: "
                               f"{done.stderr.strip()}")
        return done.stdout

    def kick(self, user: str, timeout: float = 5.0) -> None:
        """Drop every open IMAP session of `user`: their next command fails.

        `doveadm kick` only signals the session processes; this waits until they are
        gone, so a command sent next cannot still be answered by one of them."""
        pids = [int(row.split()[2]) for row in self.doveadm("who", "-1", user).splitlines()[1:]
                if len(row.split()) >= 3 and row.split()[2].isdigit()]
        self.doveadm("kick", user)
        end = time.monotonic() + timeout
        while pids and time.monotonic() < end:
            pids = [pid for pid in pids if _alive(pid)]
            time.sleep(0.01)
        if pids:
            raise DovecotError(f"kick {user}: sessions {pids} still running after {timeout} s")

    def set_uidvalidity(self, user: str, folder: str, uidvalidity: int) -> None:
        """Change the folder's UIDVALIDITY; a session with it selected is disconnected."""
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(uidvalidity), folder)

    def log_text(self) -> str:
        log = self.root / "dovecot.log"
        return log.read_text(errors="replace") if log.exists() else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
