"""CURVE key pairs for the ZeroMQ link to the sidecar, and ``telemetry-keygen``.

A key pair is two files in pyzmq's (and czmq's) certificate format:

- ``<name>.key``: the public key. Give it to the other side: a client's goes into
  the sidecar's ``SIDECAR_CURVE_ALLOWED_KEYS_DIR``, the sidecar's is the
  client's ``WEBAPP_CURVE_SERVER_KEY_FILE``. Mode 0644.
- ``<name>.key_secret``: public and secret key. Never leaves the host that owns it;
  created with mode 0600 from the first byte (no window where it is readable).

The client (this app) loads its own secret certificate and the server's public one.
See docs/security.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.auth import load_certificate

_Z85_KEY = re.compile(rb"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class CurveClientKeys:
    """What a CURVE client socket needs (Z85-encoded keys)."""

    public: bytes
    secret: bytes
    server_public: bytes

    def apply(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client of the server (before connect)."""
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_serverkey = self.server_public


def _key(value: bytes | None, what: str, path: str | Path) -> bytes:
    if value is None or not _Z85_KEY.match(value):
        raise ValueError(f"{path}: no valid {what} (expected a 40-character Z85 key)")
    return value


def load_client_keys(secret_key_file: str | Path, server_key_file: str | Path) -> CurveClientKeys:
    """Our secret certificate plus the server's public certificate; ValueError says what is wrong."""
    try:
        public, secret = load_certificate(secret_key_file)
        server_public, _ = load_certificate(server_key_file)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read a CURVE certificate: {exc}") from None
    keys = CurveClientKeys(_key(public, "public-key", secret_key_file), _key(secret, "secret-key", secret_key_file),
                           _key(server_public, "public-key", server_key_file))
    if zmq.curve_public(keys.secret) != keys.public:
        raise ValueError(f"{secret_key_file}: public-key does not belong to secret-key")
    return keys


def _certificate(kind: str, public: bytes, secret: bytes | None) -> str:
    now = datetime.datetime.now().isoformat(timespec="seconds")
    lines = [f"#   ****  Generated on {now} by telemetry-keygen  ****",
             f"#   ZeroMQ CURVE {kind} Certificate",
             "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions." if secret else
             "#   Give this file to the other side of the link (it holds no secret).",
             "", "metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def _write_new(path: Path, text: str, mode: int, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, mode)  # the mode applies from creation on (umask can only narrow it)
    try:
        os.fchmod(fd, mode)  # an overwritten (--force) file keeps its old mode otherwise
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_keypair(directory: str | Path, name: str, force: bool = False) -> tuple[Path, Path]:
    """Create ``<name>.key`` (0644) and ``<name>.key_secret`` (0600) in ``directory``.
    Refuses to overwrite existing files unless ``force``."""
    if not _NAME.match(name):
        raise ValueError(f"name {name!r}: use letters, digits, '.', '_' or '-'")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    public_file, secret_file = directory / f"{name}.key", directory / f"{name}.key_secret"
    if not force:
        for path in (public_file, secret_file):
            if path.exists():
                raise FileExistsError(f"{path} exists (use --force to replace the key pair)")
    public, secret = zmq.curve_keypair()
    _write_new(secret_file, _certificate("**Secret**", public, secret), 0o600, force)
    _write_new(public_file, _certificate("Public", public, None), 0o644, force)
    return public_file, secret_file


def main(argv: list[str] | None = None) -> int:
    """``telemetry-keygen NAME [--dir DIR] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="telemetry-keygen",
        description="Generate a ZeroMQ CURVE key pair for the trading-app -> metrics-sidecar link: "
                    "NAME.key (public, give it to the other side) and NAME.key_secret (mode 0600, keep it).")
    parser.add_argument("name", help="e.g. sidecar, or one name per trading-app host")
    parser.add_argument("--dir", default=".", help="output directory (default: current directory)")
    parser.add_argument("--force", action="store_true", help="replace an existing key pair")
    args = parser.parse_args(argv)
    try:
        public_file, secret_file = write_keypair(args.dir, args.name, force=args.force)
    except (ValueError, OSError) as exc:
        print(f"telemetry-keygen: {exc}", file=sys.stderr)
        return 1
    public, _ = load_certificate(public_file)
    print(f"public key  {public_file}  ({public.decode()})")
    print(f"secret key  {secret_file}  (mode 0600: never copy it off this host)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
