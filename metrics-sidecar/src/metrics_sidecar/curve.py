"""Optional ZeroMQ CURVE on the PULL socket: every connection is encrypted, and
only clients whose public key is in an allow-list directory may connect.

Enabled by ``SIDECAR_CURVE_SECRET_KEY_FILE`` (the sidecar's own key pair) plus
``SIDECAR_CURVE_ALLOWED_KEYS_DIR`` (one ``<name>.key`` public certificate per
allowed client, as written by ``telemetry-keygen``). pyzmq's ThreadAuthenticator
answers libzmq's ZAP requests; a refused client never completes the handshake,
so not one of its frames reaches the decoder (nothing is counted for it), and it
is logged (rate limited) with its public key so an operator can tell who it was.

The allow-list is read once at start: restart the sidecar to add or revoke a key.
See docs/security.md.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.auth import load_certificate
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from .ratelimit import RateLimitedLogger

log = logging.getLogger("metrics_sidecar.curve")

ZAP_DOMAIN = "telemetry"
_Z85_KEY_LEN = 40  # a 32-byte CURVE key in Z85


def _check_key(key: bytes | None, what: str, path: Path) -> bytes:
    if key is None or len(key) != _Z85_KEY_LEN:
        raise ValueError(f"{path}: no valid {what} (expected a 40-character Z85 key)")
    try:
        z85.decode(key)
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"{path}: {what} is not valid Z85") from None
    return key


def load_secret_key(path: str | Path) -> tuple[bytes, bytes]:
    """(public, secret) from a secret certificate (``<name>.key_secret``)."""
    path = Path(path)
    try:
        public, secret = load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read a CURVE certificate ({exc})") from None
    secret = _check_key(secret, "secret-key", path)
    public = _check_key(public, "public-key", path)
    if zmq.curve_public(secret) != public:
        raise ValueError(f"{path}: public-key does not belong to secret-key")
    return public, secret


def load_allowed_keys(directory: str | Path) -> frozenset[bytes]:
    """Z85 public keys of every ``*.key`` certificate in ``directory`` (at least one)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a directory")
    keys = set()
    for path in sorted(directory.glob("*.key")):
        try:
            public, _ = load_certificate(path)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot read a CURVE certificate ({exc})") from None
        keys.add(_check_key(public, "public-key", path))
    if not keys:
        raise ValueError(f"{directory}: no client public key (*.key) in it: every client would be refused")
    return frozenset(keys)


class AllowList:
    """pyzmq credentials provider: ``callback`` is asked once per CURVE handshake."""

    def __init__(self, keys: frozenset[bytes]) -> None:
        self.keys = keys
        self.allowed = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._refusal_log = RateLimitedLogger(log, 1.0)

    def callback(self, domain: str, key: bytes) -> bool:
        ok = key in self.keys
        with self._lock:
            if ok:
                self.allowed += 1
            else:
                self.refused += 1
        if not ok:
            self._refusal_log.warning("refused a ZeroMQ client: public key %s is not in the allow-list",
                                      key.decode("ascii", "replace"))
        return ok


@dataclass
class CurveServer:
    """The sidecar's key pair and its allow-list; ``start`` before binding."""

    public: bytes
    secret: bytes
    allow_list: AllowList
    _auth: ThreadAuthenticator | None = None

    @classmethod
    def from_files(cls, secret_key_file: str | Path, allowed_keys_dir: str | Path) -> CurveServer:
        public, secret = load_secret_key(secret_key_file)
        return cls(public, secret, AllowList(load_allowed_keys(allowed_keys_dir)))

    def start(self, context: zmq.Context) -> None:
        """Start the ZAP handler in ``context``. It must run before the socket binds:
        libzmq lets a CURVE client in without asking when no handler exists."""
        auth = ThreadAuthenticator(context, log=logging.getLogger("metrics_sidecar.zap"))
        auth.start()
        auth.configure_curve_callback(domain=ZAP_DOMAIN, credentials_provider=self.allow_list)
        self._auth = auth
        log.info("CURVE on: %d allowed client key(s); server public key %s",
                 len(self.allow_list.keys), self.public.decode())

    def secure(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (before bind)."""
        if self._auth is None:
            raise RuntimeError("CurveServer.start() must run before secure()")
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True
        sock.zap_domain = ZAP_DOMAIN.encode()

    def stop(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
