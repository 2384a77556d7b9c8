"""The platform's Ed25519 signatures survive key rotation; forgeries and unknown keys fail."""

import base64
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from core import signing


@pytest.fixture
def key_file(settings, tmp_path):
    settings.CIVICSTACK_SIGNING_KEYS = ""
    settings.CIVICSTACK_SIGNING_KEY_FILE = tmp_path / "signing-keys.json"
    settings.CIVICSTACK_CREATE_KEY_FILE = False
    signing.reset_signing_keyring()
    yield settings.CIVICSTACK_SIGNING_KEY_FILE
    signing.reset_signing_keyring()


def test_a_seal_verifies_and_any_change_to_it_does_not():
    sealed = signing.seal({"b": 1, "a": "é"})
    assert sealed.snapshot == '{"a":"é","b":1}'  # canonical: sorted, compact, UTF-8
    assert signing.seal_intact(sealed.snapshot, **_parts(sealed)) == ""
    assert "hash" in signing.seal_intact('{"a":"e","b":1}', **_parts(sealed))
    forged = signing.Seal(sealed.snapshot, sealed.hash, sealed.key_id, "A" * 86)
    assert "signature" in signing.seal_intact(forged.snapshot, **_parts(forged))


def _parts(sealed):
    return {"hash": sealed.hash, "key_id": sealed.key_id, "signature": sealed.signature}


def test_a_signature_is_the_standard_ed25519_signature_of_the_current_key(key_file):
    # given a key file and a message
    call_command("rotate_signing_key")
    key = signing.get_signing_keyring().signer()
    message = b"c0ffee" * 10
    # when the platform signs it
    key_id, signature = signing.sign(message)
    # then it is byte for byte what any Ed25519 implementation gives for that key (here
    # OpenSSL's, through cryptography), and verifies with the public key alone
    raw = base64.urlsafe_b64decode(signature + "==")
    assert key_id == key.key_id
    assert raw == key.private.sign(message)
    key.public.verify(raw, message)
    assert not signing.verify(message + b"!", key_id=key_id, signature=signature)


def test_rotation_keeps_old_signatures_verifiable_and_signs_with_the_new_key(key_file):
    # given a key file made by the command, and a message signed with its key
    call_command("rotate_signing_key")
    old = signing.seal({"n": 1})
    # when the key is rotated
    call_command("rotate_signing_key")
    new = signing.seal({"n": 2})
    # then new messages carry the new key and both verify
    assert new.key_id != old.key_id
    assert signing.seal_intact(old.snapshot, **_parts(old)) == ""
    assert signing.seal_intact(new.snapshot, **_parts(new)) == ""
    # and the file is readable by its owner only
    assert key_file.stat().st_mode & 0o077 == 0


def test_the_public_export_verifies_offline_but_cannot_sign(key_file, tmp_path):
    call_command("rotate_signing_key")
    sealed = signing.seal({"n": 1})
    public = tmp_path / "public.json"
    call_command("rotate_signing_key", export_public=str(public))
    data = json.loads(public.read_text())
    assert all(entry["private"] is None for entry in data["keys"].values())
    # an auditor's keyring of public keys only verifies the seal
    ring = signing.parse_signing_keyring(public.read_text(), where="export", verify_only=True)
    assert signing.seal_intact(sealed.snapshot, keyring=ring, **_parts(sealed)) == ""
    with pytest.raises(ImproperlyConfigured):
        signing.parse_signing_keyring(public.read_text(), where="export")


def test_missing_keys_are_a_clear_configuration_error(key_file):
    with pytest.raises(ImproperlyConfigured, match="rotate_signing_key"):
        signing.get_signing_keyring()
