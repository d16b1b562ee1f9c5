"""AES-256-GCM primitives: round trips, associated data, tampering, nonces, key wrapping.

Source: NIST SP 800-38D (GCM: 96-bit nonces, 128-bit tags, a nonce never reused under one key).
"""

from __future__ import annotations

import pytest

from maillage.kit import crypto


@pytest.fixture
def key() -> bytes:
    return crypto.generate_key()


class TestGenerateKey:
    def test_keys_are_256_bits_and_differ(self):
        keys = {crypto.generate_key() for _ in range(100)}
        assert len(keys) == 100
        assert all(len(k) == 32 for k in keys)


class TestEncodeAad:
    def test_parts_cannot_slide_into_each_other(self):
        assert crypto.encode_aad("ab", "c") != crypto.encode_aad("a", "bc")
        assert crypto.encode_aad("a", "") != crypto.encode_aad("a")

    def test_the_same_parts_give_the_same_bytes(self):
        assert crypto.encode_aad("document", "42", "body") == crypto.encode_aad("document", "42", "body")


class TestSeal:
    def test_a_sealed_value_opens_to_the_same_bytes(self, key):
        nonce, ciphertext = crypto.seal(key, b"compte rendu", aad=b"doc:1")
        assert crypto.open_sealed(key, nonce, ciphertext, aad=b"doc:1") == b"compte rendu"

    def test_the_ciphertext_does_not_contain_the_plaintext_and_carries_a_tag(self, key):
        plaintext = b"MARQUEUR" * 8
        nonce, ciphertext = crypto.seal(key, plaintext, aad=b"")
        assert b"MARQUEUR" not in ciphertext
        assert len(nonce) == 12 and len(ciphertext) == len(plaintext) + 16

    def test_an_empty_plaintext_round_trips(self, key):
        nonce, ciphertext = crypto.seal(key, b"", aad=b"x")
        assert crypto.open_sealed(key, nonce, ciphertext, aad=b"x") == b""

    def test_a_key_of_the_wrong_size_is_refused(self):
        with pytest.raises(crypto.CryptoError):
            crypto.seal(b"short", b"data", aad=b"")

    def test_nonces_are_never_reused_across_ten_thousand_seals(self, key):
        nonces = [crypto.seal(key, b"x", aad=b"")[0] for _ in range(10_000)]
        assert len(set(nonces)) == 10_000


class TestOpenSealed:
    def test_the_wrong_associated_data_fails(self, key):
        nonce, ciphertext = crypto.seal(key, b"secret", aad=crypto.encode_aad("document", "1"))
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(key, nonce, ciphertext, aad=crypto.encode_aad("document", "2"))

    def test_a_flipped_bit_in_the_ciphertext_fails(self, key):
        nonce, ciphertext = crypto.seal(key, b"secret body", aad=b"a")
        for position in (0, len(ciphertext) // 2, len(ciphertext) - 1):  # data and tag
            tampered = bytearray(ciphertext)
            tampered[position] ^= 0x01
            with pytest.raises(crypto.CryptoError):
                crypto.open_sealed(key, nonce, bytes(tampered), aad=b"a")

    def test_a_truncated_ciphertext_fails(self, key):
        nonce, ciphertext = crypto.seal(key, b"secret body", aad=b"a")
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(key, nonce, ciphertext[:-1], aad=b"a")
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(key, nonce, ciphertext[:5], aad=b"a")

    def test_another_nonce_fails(self, key):
        _, ciphertext = crypto.seal(key, b"secret", aad=b"a")
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(key, crypto.new_nonce(), ciphertext, aad=b"a")

    def test_another_key_fails(self, key):
        nonce, ciphertext = crypto.seal(key, b"secret", aad=b"a")
        with pytest.raises(crypto.CryptoError):
            crypto.open_sealed(crypto.generate_key(), nonce, ciphertext, aad=b"a")


class TestWrapKey:
    def test_a_wrapped_key_unwraps_to_the_same_key(self, key):
        data_key = crypto.generate_key()
        wrapped = crypto.wrap_key(key, data_key, aad=b"kek-1")
        assert len(wrapped) == crypto.WRAPPED_KEY_BYTES
        assert data_key not in wrapped
        assert crypto.unwrap_key(key, wrapped, aad=b"kek-1") == data_key

    def test_wrapping_twice_gives_different_bytes(self, key):
        data_key = crypto.generate_key()
        assert crypto.wrap_key(key, data_key, aad=b"") != crypto.wrap_key(key, data_key, aad=b"")

    def test_only_a_256_bit_data_key_can_be_wrapped(self, key):
        with pytest.raises(crypto.CryptoError):
            crypto.wrap_key(key, b"0" * 16, aad=b"")


class TestUnwrapKey:
    def test_another_kek_fails(self, key):
        wrapped = crypto.wrap_key(key, crypto.generate_key(), aad=b"a")
        with pytest.raises(crypto.CryptoError):
            crypto.unwrap_key(crypto.generate_key(), wrapped, aad=b"a")

    def test_other_associated_data_fails(self, key):
        wrapped = crypto.wrap_key(key, crypto.generate_key(), aad=b"object-1")
        with pytest.raises(crypto.CryptoError):
            crypto.unwrap_key(key, wrapped, aad=b"object-2")

    def test_a_tampered_or_truncated_wrapped_key_fails(self, key):
        wrapped = bytearray(crypto.wrap_key(key, crypto.generate_key(), aad=b"a"))
        with pytest.raises(crypto.CryptoError):
            crypto.unwrap_key(key, bytes(wrapped[:-1]), aad=b"a")
        wrapped[20] ^= 0x80
        with pytest.raises(crypto.CryptoError):
            crypto.unwrap_key(key, bytes(wrapped), aad=b"a")


class TestSha256Hex:
    def test_known_vector(self):
        """FIPS 180-2 test vector: SHA-256("abc")."""
        assert crypto.sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
