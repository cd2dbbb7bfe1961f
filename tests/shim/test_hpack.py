"""HPACK decoding, checked against the examples of RFC 7541 Appendix C."""

from __future__ import annotations

import pytest

from cni_shim.hpack import HeaderDecoder, HpackError, encode_integer, encode_literal_headers
from cni_shim.huffman import CODE_LENGTHS, HuffmanError, huffman_decode, huffman_encode

HUFFMAN_VECTORS = [  # RFC 7541 C.4 and C.6
    (b"www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"),
    (b"no-cache", "a8eb10649cbf"),
    (b"custom-key", "25a849e95ba97d7f"),
    (b"custom-value", "25a849e95bb8e8b4bf"),
    (b"302", "6402"),
    (b"private", "aec3771a4b"),
]


def test_code_lengths_form_a_complete_prefix_code() -> None:
    assert len(CODE_LENGTHS) == 257
    assert sum(2 ** (30 - length) for length in CODE_LENGTHS) == 2**30


@pytest.mark.parametrize(("text", "encoded"), HUFFMAN_VECTORS)
def test_huffman_vectors(text: bytes, encoded: str) -> None:
    assert huffman_decode(bytes.fromhex(encoded)) == text
    assert huffman_encode(text).hex() == encoded


def test_huffman_round_trips_every_byte() -> None:
    every = bytes(range(256)) * 2
    assert huffman_decode(huffman_encode(every)) == every


@pytest.mark.parametrize("bad", ["ff", "f1e3c2e5f23a6ba0ab90f400", "ffffffff"])
def test_huffman_bad_padding_or_eos(bad: str) -> None:
    with pytest.raises(HuffmanError):
        huffman_decode(bytes.fromhex(bad))


REQUESTS_PLAIN = [  # RFC 7541 C.3: three requests on one connection
    "828684410f7777772e6578616d706c652e636f6d",
    "828684be58086e6f2d6361636865",
    "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
]
REQUESTS_HUFFMAN = [  # RFC 7541 C.4: the same with Huffman coding
    "828684418cf1e3c2e5f23a6ba0ab90f4ff",
    "828684be5886a8eb10649cbf",
    "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
]
EXPECTED_REQUESTS = [
    [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
     (b":authority", b"www.example.com")],
    [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"),
     (b":authority", b"www.example.com"), (b"cache-control", b"no-cache")],
    [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/index.html"),
     (b":authority", b"www.example.com"), (b"custom-key", b"custom-value")],
]  # fmt: skip


@pytest.mark.parametrize("blocks", [REQUESTS_PLAIN, REQUESTS_HUFFMAN], ids=["plain", "huffman"])
def test_rfc_request_sequence_uses_dynamic_table(blocks: list[str]) -> None:
    decoder = HeaderDecoder()
    for block, expected in zip(blocks, EXPECTED_REQUESTS, strict=True):
        assert decoder.decode(bytes.fromhex(block)) == expected


def test_eviction_drops_oldest_entry() -> None:
    decoder = HeaderDecoder(max_table_size=80)
    decoder.decode(b"\x40\x01a\x01b" + b"\x40\x01c\x01d")  # two 34-byte entries
    assert decoder.decode(b"\xbe\xbf") == [(b"c", b"d"), (b"a", b"b")]
    decoder.decode(b"\x40\x01e\x01f")  # third entry evicts (a, b)
    assert decoder.decode(b"\xbe\xbf") == [(b"e", b"f"), (b"c", b"d")]
    with pytest.raises(HpackError):
        decoder.decode(b"\xc0")


def test_size_update_above_limit_rejected() -> None:
    with pytest.raises(HpackError):
        HeaderDecoder(max_table_size=4096).decode(b"\x3f\xe2\x1f")  # 5000


def test_literal_encoder_round_trips() -> None:
    headers = [(b":path", b"/podnet.v1.CniAgent/Invoke"), (b"x-long", b"v" * 300)]
    block = encode_literal_headers(headers)
    assert block[0] == 0x00
    assert HeaderDecoder().decode(block) == headers


@pytest.mark.parametrize(("value", "prefix", "encoded"), [(10, 5, "0a"), (1337, 5, "1f9a0a")])
def test_integer_encoding_rfc_examples(value: int, prefix: int, encoded: str) -> None:
    assert encode_integer(value, prefix).hex() == encoded
