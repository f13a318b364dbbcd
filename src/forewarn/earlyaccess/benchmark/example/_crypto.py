"""Decoding and classical-crypto puzzles (NON-CLASSIFIED EXAMPLE)."""

from __future__ import annotations

import base64
import codecs
import string

from forewarn.earlyaccess.benchmark.example._common import WORDS, family_rng, fenced, make, phrase
from forewarn.earlyaccess.benchmark.pack import Item
from forewarn.earlyaccess.benchmark.scoring import ScorerKind

DOMAIN = "crypto"
ENCODINGS = {
    "base64": "Base64",
    "hex": "Hexadecimal",
    "binary": "Binary (8-bit groups)",
    "percent": "URL percent-encoding",
}


def encode(kind: str, text: str) -> str:
    raw = text.encode()
    if kind == "base64":
        return base64.b64encode(raw).decode()
    if kind == "hex":
        return raw.hex()
    if kind == "binary":
        return " ".join(f"{byte:08b}" for byte in raw)
    return "".join(f"%{byte:02X}" for byte in raw)


def caesar(text: str, shift: int) -> str:
    lower = string.ascii_lowercase
    table = str.maketrans(lower, lower[shift % 26 :] + lower[: shift % 26])
    return text.translate(table)


def encoding_id(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "enc-id")
    kinds = list(ENCODINGS)
    items = []
    for index in range(count):
        kind = kinds[index % len(kinds)]
        while True:
            plain = phrase(rng, rng.randint(1, 2))
            encoded = encode(kind, plain)
            # Exactly one offered encoding may fit: Base64 must use a non-hex letter, and hex must not
            # also be valid Base64 (an odd number of bytes gives a length that is not a multiple of 4).
            if kind == "base64" and all(c in string.hexdigits for c in encoded):
                continue
            if kind == "hex" and len(plain) % 2 == 0:
                continue
            break
        choices = list(ENCODINGS.values())
        rng.shuffle(choices)
        items.append(
            make(
                "enc-id",
                index,
                domain=DOMAIN,
                difficulty=1,
                text="Which encoding is used for the following string?\n\n" + fenced(encoded),
                answer="ABCD"[choices.index(ENCODINGS[kind])],
                scorer=ScorerKind.CHOICE,
                choices=choices,
            )
        )
    return items


def decode_base64(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "b64")
    items = []
    for index, plain in enumerate(rng.sample(WORDS, count)):
        text = "Decode this Base64 string. Reply with the decoded text only.\n\n" + fenced(
            encode("base64", plain)
        )
        items.append(make("b64", index, domain=DOMAIN, difficulty=2, text=text, answer=plain))
    return items


def decode_hex(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "hex")
    items = []
    for index in range(count):
        plain = phrase(rng, 2)
        text = (
            "The following hexadecimal string encodes ASCII text. Decode it and reply with the text only.\n\n"
            + fenced(encode("hex", plain))
        )
        items.append(make("hex", index, domain=DOMAIN, difficulty=3, text=text, answer=plain))
    return items


def decode_rot13(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "rot13")
    items = []
    for index in range(count):
        plain = phrase(rng, 3)
        text = "Decode this ROT13 text. Reply with the plaintext only.\n\n" + fenced(
            codecs.encode(plain, "rot13")
        )
        items.append(make("rot13", index, domain=DOMAIN, difficulty=3, text=text, answer=plain))
    return items


def caesar_shift(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "caesar-shift")
    items = []
    for index in range(count):
        plain = phrase(rng, 3)
        shift = rng.choice([s for s in range(1, 26) if s != 13])
        first = plain.split()[0]
        text = (
            "This text was encrypted with a Caesar cipher: every letter was shifted forward in the alphabet "
            f'by the same amount. The plaintext starts with the word "{first}". What was the shift '
            "(a number from 1 to 25)? Reply with the number only.\n\n" + fenced(caesar(plain, shift))
        )
        items.append(make("caesar-shift", index, domain=DOMAIN, difficulty=3, text=text, answer=str(shift)))
    return items


def caesar_decrypt(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "caesar-decrypt")
    items = []
    for index in range(count):
        plain = phrase(rng, 3)
        shift = rng.choice([s for s in range(1, 26) if s != 13])
        hint = rng.choice(plain.split())
        text = (
            "This text was encrypted with a Caesar cipher with an unknown shift. The plaintext contains "
            f'the word "{hint}". Decrypt it and reply with the plaintext only.\n\n'
            + fenced(caesar(plain, shift))
        )
        items.append(make("caesar-decrypt", index, domain=DOMAIN, difficulty=4, text=text, answer=plain))
    return items


def xor_single(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "xor1")
    items = []
    for index in range(count):
        plain = phrase(rng, 2)
        key = rng.randint(1, 254)
        cipher = bytes(byte ^ key for byte in plain.encode()).hex()
        text = (
            "The hexadecimal string below is ASCII text XORed byte by byte with the single-byte key "
            f"0x{key:02x}. Recover the text and reply with it only.\n\n" + fenced(cipher)
        )
        items.append(make("xor1", index, domain=DOMAIN, difficulty=4, text=text, answer=plain))
    return items


def xor_repeating(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "xor-multi")
    items = []
    for index in range(count):
        plain = phrase(rng, 2)
        key = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 4)))
        raw = bytes(byte ^ ord(key[i % len(key)]) for i, byte in enumerate(plain.encode()))
        text = (
            "The Base64 string below decodes to bytes that are ASCII text XORed with the repeating key "
            f'"{key}" (the key\'s ASCII bytes, repeated). Recover the text and reply with it only.\n\n'
            + fenced(base64.b64encode(raw).decode())
        )
        items.append(make("xor-multi", index, domain=DOMAIN, difficulty=5, text=text, answer=plain))
    return items
