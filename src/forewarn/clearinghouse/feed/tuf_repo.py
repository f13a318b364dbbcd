"""The feed's TUF metadata, built and signed with python-tuf's Metadata API (pure: no database, no I/O).

Invariants (The Update Framework specification, version 1.0):

- four top-level roles (root, targets, snapshot, timestamp), each with its own Ed25519 key and
  threshold 1, except a root held offline: any number of root keys and a threshold of them;
- hashed-bin delegations (TUF specification §4.5 ``path_hash_prefixes``; the layout of PEP 458):
  the top-level targets lists no target itself but delegates, terminating and with threshold 1, to
  N bin roles ``bin-<first prefix>`` that share one Ed25519 "bins" key; a target belongs to the bin
  whose prefixes include the first hex digits of SHA-256(target path), so exactly one bin can list
  it, and publishing re-signs only the bins whose targets changed (plus snapshot and timestamp).
  N = 0 is the flat layout (every target in the top-level targets), kept for comparison and for
  feeds made before bins existed;
- consistent snapshots are on (§5.5 / §6.1): clients fetch ``N.snapshot.json``, ``N.targets.json``
  and each target as ``<sha256>.<name>``, so a client always reads one coherent state while a new
  one is being published, and a published file is never overwritten;
- each new version of a role is its previous version + 1; the snapshot lists the targets metadata
  with its length and hashes and the timestamp lists the snapshot the same way, so a changed byte in
  either is refused by the client before it is parsed (§5.3.x, §5.4);
- a new root that replaces the root key is signed by the old *and* the new root key: a client checks
  each new root against the keys of the root it trusts and against the new root's own keys
  (§5.3.4), so a client holding an old root follows the rotation and nobody else can forge one;
- every role expires; the timestamp lives one day and is re-signed every hour by a periodic job, so
  a client cut off from fresh metadata (freeze attack, §5.4.3) notices within a day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner, SSlibKey
    from tuf.api.metadata import Metadata, Root, Snapshot, TargetFile, Targets, Timestamp

    Signed = Root | Targets | Snapshot | Timestamp

ROLES = ("root", "targets", "snapshot", "timestamp")
#: Keys that can be rotated: the top-level roles' and the one key every bin shares.
KEY_ROLES = (*ROLES, "bins")
#: Bins in a new feed (``FOREWARN_FEED_HASH_BINS``); see docs/feed.md §5 for the choice.
DEFAULT_BINS = 4096
MAX_BINS = 65536
#: Target hashes, in this order: clients prefix a target's file name with the first (TUF §5.7.3).
HASH_ALGORITHMS = ("sha256", "sha512")


@dataclass(frozen=True)
class Expiry:
    """How long each role's metadata stays valid after it is signed."""

    root: timedelta = timedelta(days=365)
    targets: timedelta = timedelta(days=30)
    snapshot: timedelta = timedelta(days=7)
    timestamp: timedelta = timedelta(days=1)

    def of(self, role: str) -> timedelta:
        value: timedelta = getattr(self, role)
        return value

    @classmethod
    def from_settings(cls, settings: Any) -> Expiry:
        return cls(
            root=timedelta(days=settings.feed_root_expiry_days),
            targets=timedelta(days=settings.feed_targets_expiry_days),
            snapshot=timedelta(days=settings.feed_snapshot_expiry_days),
            timestamp=timedelta(hours=settings.feed_timestamp_expiry_hours),
        )


def check_role(role: str) -> str:
    from forewarn.core.errors import InvalidInput, Problem

    if role not in KEY_ROLES:
        raise InvalidInput(
            f"unknown TUF role {role!r}", problems=[Problem("role", f"one of {', '.join(KEY_ROLES)}")]
        )
    return role


def path_hash(path: str) -> str:
    """SHA-256 of a target path, hex: what ``path_hash_prefixes`` are matched against (§4.5)."""
    return hashlib.sha256(path.encode()).hexdigest()


@dataclass(frozen=True)
class Bins:
    """N hashed bins: prefixes of ``width`` hex digits, ``16**width / N`` consecutive ones per bin.

    ``count`` 0 is the flat layout (no delegation). Bin *i* covers the path hashes from its first
    prefix up to (not including) the next bin's first prefix, which is how the database finds a
    bin's targets with one index range scan.
    """

    count: int

    def __post_init__(self) -> None:
        if self.count and (self.count & (self.count - 1) or not 1 <= self.count <= MAX_BINS):
            raise ValueError(f"the number of bins is 0 or a power of two up to {MAX_BINS}, not {self.count}")

    @property
    def width(self) -> int:
        return max(1, (self.count.bit_length() - 1 + 3) // 4)

    @property
    def _per_bin(self) -> int:
        return int(16**self.width) // self.count

    def _hex(self, number: int) -> str:
        return format(number, f"0{self.width}x")

    def names(self) -> list[str]:
        return [f"bin-{self._hex(i * self._per_bin)}" for i in range(self.count)]

    def prefixes(self, index: int) -> list[str]:
        return [self._hex(index * self._per_bin + j) for j in range(self._per_bin)]

    def index_of(self, digest: str) -> int:
        return int(digest[: self.width], 16) // self._per_bin

    def of(self, path: str) -> str:
        """The bin that lists *path*."""
        return f"bin-{self._hex(self.index_of(path_hash(path)) * self._per_bin)}"

    def hash_range(self, index: int) -> tuple[str, str | None]:
        """[low, high) of the path hashes in bin *index* (high None: up to the end)."""
        low = self._hex(index * self._per_bin)
        high = None if index + 1 == self.count else self._hex((index + 1) * self._per_bin)
        return low, high

    def index(self, name: str) -> int:
        return int(name.removeprefix("bin-"), 16) // self._per_bin


# --------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------


def generate_seed() -> bytes:
    """A fresh Ed25519 private key (its 32-byte seed)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def public_key(seed: bytes) -> SSlibKey:
    """The key as TUF metadata lists it; its key id is the hash of its canonical form (§4.2)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_crypto(Ed25519PrivateKey.from_private_bytes(seed).public_key())


def signer(seed: bytes) -> CryptoSigner:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from securesystemslib.signer import CryptoSigner

    return CryptoSigner(Ed25519PrivateKey.from_private_bytes(seed), public_key(seed))


def key_from_dict(keyid: str, data: Mapping[str, Any]) -> SSlibKey:
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_dict(keyid, dict(data))


# --------------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------------


def _expires(now: datetime, lifetime: timedelta) -> datetime:
    return (now + lifetime).replace(microsecond=0)


def dumps(metadata: Metadata[Any]) -> bytes:
    from tuf.api.serialization.json import JSONSerializer

    return metadata.to_bytes(JSONSerializer(compact=True))


def sign(signed: Signed, signers: Iterable[CryptoSigner]) -> bytes:
    """The signed metadata's bytes, signed by every one of *signers* (at least one)."""
    from tuf.api.metadata import Metadata

    metadata: Metadata[Any] = Metadata[Any](signed)
    count = 0
    for each in signers:
        metadata.sign(each, append=True)
        count += 1
    if not count:
        raise ValueError(f"no key to sign {signed.type} metadata")
    return dumps(metadata)


def load(data: bytes) -> Metadata[Any]:
    from tuf.api.metadata import Metadata

    return Metadata.from_bytes(data)


def new_root(keys: Mapping[str, SSlibKey], *, now: datetime, expiry: Expiry) -> Root:
    """Version 1 of the root: one key per role, threshold 1, consistent snapshots."""
    from tuf.api.metadata import Root

    root = Root(version=1, expires=_expires(now, expiry.root), consistent_snapshot=True)
    for role in ROLES:
        root.add_key(keys[role], role)
    return root


def next_root(
    current: bytes, *, now: datetime, expiry: Expiry, role: str | None = None, key: SSlibKey | None = None
) -> Root:
    """The root after *current*: version + 1, renewed expiry; with *role* and *key*, that role's keys
    replaced by *key* (a rotation)."""
    root: Root = load(current).signed
    root.version += 1
    root.expires = _expires(now, expiry.root)
    if role is not None and key is not None:
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
        root.add_key(key, role)
    return root


def target_file(
    path: str, *, length: int, hashes: Mapping[str, str], custom: Mapping[str, Any]
) -> TargetFile:
    from tuf.api.metadata import TargetFile

    ordered = {alg: hashes[alg] for alg in HASH_ALGORITHMS}
    return TargetFile(length=length, hashes=ordered, path=path, unrecognized_fields={"custom": dict(custom)})


def targets(version: int, files: Iterable[TargetFile], *, now: datetime, expiry: Expiry) -> Signed:
    """Targets metadata listing *files*: the top-level targets of a flat feed, or one bin."""
    from tuf.api.metadata import Targets

    return Targets(version=version, expires=_expires(now, expiry.targets), targets={f.path: f for f in files})


def delegating_targets(version: int, bins: Bins, key: SSlibKey, *, now: datetime, expiry: Expiry) -> Signed:
    """The top-level targets of a binned feed: no targets, N terminating delegations (§4.5)."""
    from tuf.api.metadata import DelegatedRole, Delegations, Targets

    roles = {
        name: DelegatedRole(
            name=name, keyids=[key.keyid], threshold=1, terminating=True, path_hash_prefixes=bins.prefixes(i)
        )
        for i, name in enumerate(bins.names())
    }
    return Targets(
        version=version,
        expires=_expires(now, expiry.targets),
        targets={},
        delegations=Delegations(keys={key.keyid: key}, roles=roles),
    )


def layout(targets_bytes: bytes) -> Bins:
    """The bins a signed top-level targets delegates to (0: flat)."""
    import json

    delegations = json.loads(targets_bytes)["signed"].get("delegations") or {}
    return Bins(len(delegations.get("roles") or ()))


def _meta(version: int, data: bytes) -> Any:
    from tuf.api.metadata import MetaFile

    return MetaFile.from_data(version, data, ["sha256"])


def snapshot(
    version: int,
    *,
    targets_version: int,
    targets_bytes: bytes,
    now: datetime,
    expiry: Expiry,
    bins: Mapping[str, int] | None = None,
) -> Signed:
    """The snapshot: the top-level targets with length and hash, and each bin by version only.

    Bins carry no length or hash (both optional, §4.4): the client fetches ``N.bin-x.json`` by the
    version given here and checks it carries that version and the bins key's signature, and a snapshot
    of N bins stays ~30 bytes a bin, which every client downloads on each refresh that finds a change.
    """
    from tuf.api.metadata import MetaFile, Snapshot

    meta = {"targets.json": _meta(targets_version, targets_bytes)}
    for name, bin_version in (bins or {}).items():
        meta[f"{name}.json"] = MetaFile(version=bin_version)
    return Snapshot(version=version, expires=_expires(now, expiry.snapshot), meta=meta)


def snapshot_bins(snapshot_bytes: bytes) -> dict[str, int]:
    """The bins, and their versions, a signed snapshot lists."""
    import json

    meta = json.loads(snapshot_bytes)["signed"]["meta"]
    return {
        name.removesuffix(".json"): int(m["version"]) for name, m in meta.items() if name.startswith("bin-")
    }


def timestamp(
    version: int, *, snapshot_version: int, snapshot_bytes: bytes, now: datetime, expiry: Expiry
) -> Signed:
    from tuf.api.metadata import Timestamp

    return Timestamp(
        version=version,
        expires=_expires(now, expiry.timestamp),
        snapshot_meta=_meta(snapshot_version, snapshot_bytes),
    )


def verify_root(trusted: bytes, new: bytes) -> None:
    """Raise unless *new* is the next root after *trusted*, signed by the threshold of both (§5.3.4)."""
    from tuf.api.exceptions import UnsignedMetadataError

    old_md, new_md = load(trusted), load(new)
    if new_md.signed.version != old_md.signed.version + 1:
        raise UnsignedMetadataError(
            f"root version {new_md.signed.version} does not follow {old_md.signed.version}"
        )
    old_md.verify_delegate("root", new_md)
    new_md.verify_delegate("root", new_md)


# --------------------------------------------------------------------------------------------------
# Offline root signing: the next root as a file, signed on another machine, checked on import
# --------------------------------------------------------------------------------------------------


def with_root_keys(root: Root, keys: Iterable[SSlibKey], threshold: int) -> Root:
    """*root* with the root role's keys replaced by *keys* and its threshold set (a root rotation)."""
    listed = list(keys)
    if not listed or not 1 <= threshold <= len({k.keyid for k in listed}):
        raise ValueError(f"a threshold of {threshold} needs at least that many distinct root keys")
    for keyid in list(root.roles["root"].keyids):
        root.revoke_key(keyid, "root")
    for each in listed:
        root.add_key(each, "root")
    root.roles["root"].threshold = threshold
    return root


def partially_signed(signed: Signed, signers: Iterable[CryptoSigner]) -> bytes:
    """The metadata's bytes signed by *signers*, which may be none (the others sign it offline)."""
    from tuf.api.metadata import Metadata

    metadata: Metadata[Any] = Metadata[Any](signed)
    for each in signers:
        metadata.sign(each, append=True)
    return dumps(metadata)


def load_private_pem(data: bytes, password: bytes | None = None) -> CryptoSigner:
    """A signer from an Ed25519 private key in PEM (PKCS#8); ValueError names what is wrong."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner, SSlibKey

    try:
        private = load_pem_private_key(data, password=password)
    except TypeError as exc:  # encrypted without a password, or a password for a clear key
        raise ValueError(str(exc)) from None
    except (ValueError, Exception) as exc:
        raise ValueError(f"not a PEM private key ({type(exc).__name__})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError("the key is not an Ed25519 key")
    return CryptoSigner(private, SSlibKey.from_crypto(private.public_key()))


def load_public_pem(data: bytes) -> SSlibKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo), as TUF metadata lists it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    try:
        public = load_pem_public_key(data)
    except (ValueError, Exception) as exc:
        raise ValueError(f"not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError("the key is not an Ed25519 key")
    return SSlibKey.from_crypto(public)


def private_pem(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return Ed25519PrivateKey.from_private_bytes(seed).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )


def public_pem(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )


def add_signature(data: bytes, signer_: CryptoSigner) -> bytes:
    """*data* (root metadata) with one more signature by *signer_* (replacing its own earlier one).

    Any Ed25519 key may sign: a retiring root key is listed only by the previous root, which the
    file does not carry; the import counts the signatures against both roots (§5.3.4)."""
    metadata = load(data)
    if metadata.signed.type != "root":
        raise ValueError(f"this is {metadata.signed.type} metadata, not root")
    metadata.sign(signer_, append=True)
    return dumps(metadata)


@dataclass(frozen=True)
class RootSignatures:
    """How far a next root is signed: (have, need) of the previous root's keys and of its own."""

    previous: tuple[int, int]
    own: tuple[int, int]

    @property
    def complete(self) -> bool:
        return self.previous[0] >= self.previous[1] and self.own[0] >= self.own[1]

    def describe(self) -> str:
        return (
            f"{self.previous[0]} of the {self.previous[1]} signatures the previous root requires, "
            f"{self.own[0]} of the {self.own[1]} the new root requires"
        )


def root_signatures(trusted: bytes, new: bytes) -> RootSignatures:
    """Count the valid signatures on *new* by the root keys of *trusted* and of *new* (§5.3.4)."""
    old_md, new_md = load(trusted), load(new)
    previous = old_md.signed.get_verification_result("root", new_md.signed_bytes, new_md.signatures)
    own = new_md.signed.get_verification_result("root", new_md.signed_bytes, new_md.signatures)
    return RootSignatures(
        previous=(len(previous.signed), previous.threshold), own=(len(own.signed), own.threshold)
    )
