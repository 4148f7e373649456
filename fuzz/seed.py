#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/ from the parser's test vectors.

authorization: every header value of tests/credential_vectors.rs, plus duplicate-header pairs.
token: tokens built the way CONTRACT §2 says (valid, bad checksum, bad shape), under the three
prefixes the target chooses between (its first byte picks the format).
admin_request takes structured input (the `arbitrary` crate), so any bytes decode to a request:
it starts from an empty corpus.
"""
import ast, os, random, re, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def base62(n, width):
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = ALPHABET[r] + out
    return out.rjust(width, "0")


def token(prefix, rng, id_len=16, secret_len=43):
    body = f"{prefix}_{''.join(rng.choice(ALPHABET) for _ in range(id_len))}_" + "".join(
        rng.choice(ALPHABET) for _ in range(secret_len))
    return body + base62(zlib.crc32(body.encode()), 6)


def main():
    src = open(os.path.join(HERE, "..", "tests", "credential_vectors.rs")).read()
    headers = [ast.literal_eval(m) for m in re.findall(r'header: (b"(?:[^"\\]|\\.)*")', src)]
    for i, h in enumerate(headers):
        write("authorization", f"vector-{i:03}", h)
    for i in range(0, len(headers) - 1, 7):
        write("authorization", f"pair-{i:03}", headers[i] + b"\n" + headers[i + 1])

    rng = random.Random(7)
    for choice, prefix in enumerate(["tg", "x", "sk9live"]):
        good = token(prefix, rng)
        write("token", f"{prefix}-valid", bytes([choice]) + good.encode())
        write("token", f"{prefix}-long-id", bytes([choice]) + token(prefix, rng, 64, 128).encode())
        bad_sum = good[:-1] + ("0" if good[-1] != "0" else "1")
        write("token", f"{prefix}-bad-checksum", bytes([choice]) + bad_sum.encode())
        write("token", f"{prefix}-no-segment", bytes([choice]) + f"{prefix}_abc".encode())
        write("authorization", f"{prefix}-bearer", f"Bearer {good}".encode())
    print(f"{len(headers)} header vectors")


if __name__ == "__main__":
    main()
