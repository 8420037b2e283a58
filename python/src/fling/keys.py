"""CurveZMQ keys for a producer or worker that talks to a broker with CURVE on.

The same inputs as the C clients: the broker's public key (its .pub
certificate file from `fling keygen`, or the 40-character Z85 text of the
key) and this client's own secret certificate file (NAME.secret, readable
by its owner only). From the environment: FLING_CURVE_BROKER_KEY and
FLING_CURVE_KEY (C flags: --curve-broker-key, --curve-key). Both unset means
CURVE off; one without the other is an error.

Certificate files are czmq's format, which pyzmq reads as well
(zmq.auth.load_certificate).
"""
from __future__ import annotations

import os
import stat
from typing import NamedTuple, Optional, Tuple

import zmq
import zmq.auth
from zmq.utils import z85

KEY_TEXT = 40  # Z85 text of a 32-byte key


class CurveKeys(NamedTuple):
    broker_public: bytes  # Z85 text of the broker's public key
    public: bytes         # Z85 text of this client's public key
    secret: bytes         # Z85 text of this client's secret key

    @classmethod
    def load(cls, broker_key: str, key: str) -> "CurveKeys":
        """broker_key: the broker's .pub file or its Z85 public key; key: this
        client's .secret file. ValueError with the reason if either is wrong."""
        return cls(load_public(broker_key), *load_secret(key))

    @classmethod
    def from_env(cls) -> Optional["CurveKeys"]:
        """From FLING_CURVE_BROKER_KEY and FLING_CURVE_KEY; None when both are unset."""
        broker_key = os.environ.get("FLING_CURVE_BROKER_KEY", "")
        key = os.environ.get("FLING_CURVE_KEY", "")
        return keys_from(broker_key, key)

    @property
    def tag(self) -> bytes:
        """The first 8 bytes of this client's public key."""
        return z85.decode(self.public)[:8]


def keys_from(broker_key: Optional[str], key: Optional[str]) -> Optional[CurveKeys]:
    """CurveKeys from the two settings, None when both are empty."""
    if not broker_key and not key:
        return None
    if not broker_key or not key:
        raise ValueError("CURVE needs both the broker's public key (--curve-broker-key / "
                         "FLING_CURVE_BROKER_KEY) and this client's secret key file "
                         "(--curve-key / FLING_CURVE_KEY)")
    return CurveKeys.load(broker_key, key)


def _z85_key(text: str) -> bool:
    try:
        return len(text) == KEY_TEXT and len(z85.decode(text.encode("ascii"))) == 32
    except (ValueError, KeyError, UnicodeError, TypeError):  # KeyError: a byte outside Z85
        return False


def load_public(file_or_z85: str) -> bytes:
    """A public key: the Z85 text itself, or a certificate file that holds it."""
    if _z85_key(file_or_z85) and not os.path.exists(file_or_z85):
        return file_or_z85.encode("ascii")
    try:
        public, _ = zmq.auth.load_certificate(file_or_z85)
    except (OSError, ValueError) as exc:
        raise ValueError("%s is neither a public key (40 Z85 characters) nor a certificate "
                         "file: %s" % (file_or_z85, exc)) from None
    return public


def load_secret(path: str) -> Tuple[bytes, bytes]:
    """(public, secret) Z85 keys of a secret certificate file, refused if group
    or others may read or write it (as ssh refuses such private keys)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ValueError("cannot read the key file %s: %s" % (path, exc.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("the key file %s is not a regular file" % path)
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError("the secret key file %s is open to group or others (mode %04o): "
                         "chmod 600 it" % (path, st.st_mode & 0o7777))
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ValueError("%s is not a certificate file: %s" % (path, exc)) from None
    if not secret:
        raise ValueError("%s holds no secret key (a .pub file? give the .secret file)" % path)
    return public, secret


def apply_client_keys(sock: "zmq.Socket[bytes]", keys: Optional[CurveKeys]) -> None:
    """Makes `sock` a CURVE client of the broker (nothing when keys is None)."""
    if keys is None:
        return
    if not zmq.has("curve"):
        raise ValueError("this libzmq has no CURVE support")
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = keys.broker_public
