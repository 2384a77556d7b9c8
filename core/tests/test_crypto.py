import base64
import hashlib
import hmac
import json
import os
import stat
from io import StringIO

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from core import crypto
from core.fields import BlindIndexField, EncryptedFieldLookupError, lookup_value
from identity.models import User
from identity.tests.factories import UserFactory

CONTEXT = "identity.user.national_id"
KEY_1 = base64.b64encode(b"k" * 32).decode()  # the key config/settings/test.py uses
KEY_2 = base64.b64encode(b"K" * 32).decode()
INDEX_KEY = base64.b64encode(b"i" * 32).decode()


@pytest.fixture(autouse=True)
def fresh_keyring():
    crypto.reset_keyring()
    yield
    crypto.reset_keyring()


def use_keys(settings, current: str, **keys: str) -> None:
    """Configure CIVICSTACK_KEYS as an operator would, and drop the cached keyring."""
    settings.CIVICSTACK_KEYS = json.dumps(
        {"current": current, "keys": keys, "index_key": INDEX_KEY}
    )
    crypto.reset_keyring()


def stored(user: User) -> tuple[str, str | None]:
    """What someone reading the database (or a backup of it) sees."""
    table = connection.ops.quote_name(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT national_id, national_id_index FROM {table} WHERE id = %s", [user.pk]
        )
        return cursor.fetchone()


def overwrite_stored(user: User, token: str) -> None:
    table = connection.ops.quote_name(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET national_id = %s WHERE id = %s", [token, user.pk])


def find(national_id: str) -> list[str]:
    index = lookup_value(User, "national_id", national_id)
    return list(User.objects.filter(national_id_index=index).values_list("username", flat=True))


# --- encryption at rest ---------------------------------------------------------------


@pytest.mark.django_db
def test_national_id_is_readable_in_python_but_not_in_the_database():
    # given a citizen with a national ID
    user = UserFactory(username="ana", national_id="AB 123 456 C")

    # when the row is read back through the model and straight from the database
    reloaded = User.objects.get(pk=user.pk)
    raw, index = stored(user)

    # then the application sees the plaintext, the database only a versioned token
    assert reloaded.national_id == "AB 123 456 C"
    assert raw.startswith("v1:1:")
    assert "123" not in raw
    assert index is not None and len(index) == 64 and "123" not in index


@pytest.mark.django_db
def test_the_same_national_id_encrypts_differently_each_time():
    # given two people whose records carry the same national ID
    first = UserFactory(national_id="AB123456C")
    second = UserFactory(national_id="AB123456C")

    # when their stored values are compared
    (raw_1, index_1), (raw_2, index_2) = stored(first), stored(second)

    # then the ciphertexts differ (fresh nonces) and only the blind index matches
    assert raw_1 != raw_2
    assert index_1 == index_2


@pytest.mark.django_db
def test_an_empty_national_id_is_stored_empty_with_no_index():
    # given a user without a national ID
    user = UserFactory(national_id="")

    # then nothing is encrypted, there is no index, and isnull still works
    assert stored(user) == ("", None)
    assert User.objects.get(pk=user.pk).national_id == ""
    assert list(User.objects.filter(national_id_index__isnull=True)) == [user]
    assert not User.objects.filter(national_id__isnull=True).exists()


@pytest.mark.django_db
def test_a_tampered_value_does_not_decrypt():
    # given a stored national ID whose ciphertext someone altered by one character
    user = UserFactory(national_id="AB123456C")
    raw, _ = stored(user)
    position = len(raw) // 2
    altered = raw[:position] + ("A" if raw[position] != "A" else "B") + raw[position + 1 :]
    overwrite_stored(user, altered)

    # when the user is loaded, then decryption fails loudly rather than returning garbage
    with pytest.raises(crypto.DecryptionError, match="failed authentication"):
        User.objects.get(pk=user.pk)


@pytest.mark.django_db
def test_a_value_that_is_not_a_token_does_not_load():
    # given plaintext written to the column behind the application's back
    user = UserFactory(national_id="AB123456C")
    overwrite_stored(user, "AB123456C")

    # then loading refuses it
    with pytest.raises(crypto.DecryptionError, match="not an encrypted token"):
        User.objects.get(pk=user.pk)


def test_a_token_copied_to_another_field_does_not_decrypt_there():
    # given a national ID sealed for the users table
    token = crypto.encrypt("AB123456C", context=CONTEXT)

    # when it is pasted into another model's encrypted column
    # then it does not open there, and it still opens where it belongs
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, context="registry.sourcerecord.national_id")
    assert crypto.decrypt(token, context=CONTEXT) == "AB123456C"


def test_a_token_of_an_unknown_key_version_names_the_version(settings):
    # given a token sealed under key 2, and a process that only holds key 1
    use_keys(settings, "2", **{"1": KEY_1, "2": KEY_2})
    token = crypto.encrypt("AB123456C", context=CONTEXT)
    use_keys(settings, "1", **{"1": KEY_1})

    # then decrypting it says which key is missing
    with pytest.raises(crypto.DecryptionError, match="No key with version '2'"):
        crypto.decrypt(token, context=CONTEXT)


# --- blind index ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed", ["AB123456C", "ab123456c", "AB 123 456 C", " ab-123-456-c ", "AB\u2013123\u2013456 C"]
)
def test_a_user_is_found_by_national_id_however_it_is_typed(typed):
    # given two users with different national IDs
    UserFactory(username="ana", national_id="AB 123 456 C")
    UserFactory(username="ben", national_id="ZZ 999 999 Z")

    # when a caseworker looks one up, typed with other spacing, dashes or case
    # then exactly that user is found
    assert find(typed) == ["ana"]


@pytest.mark.django_db
def test_the_index_follows_a_changed_national_id():
    # given a user whose national ID is corrected
    user = UserFactory(username="ana", national_id="AB123456C")
    user.national_id = "AB123456D"
    user.save()

    # then the new number finds them and the old one no longer does
    assert find("AB123456D") == ["ana"]
    assert find("AB123456C") == []


def test_the_blind_index_differs_per_field_and_per_value():
    # given one identifier indexed for two different fields
    users = crypto.blind_index("AB123456C", context=CONTEXT)
    records = crypto.blind_index("AB123456C", context="registry.sourcerecord.national_id")

    # then the indexes cannot be joined across fields, nor confused across values
    assert users != records
    assert users != crypto.blind_index("AB123456D", context=CONTEXT)


def test_the_blind_index_normaliser_can_be_replaced():
    # given a field whose values are case-sensitive (no upper-casing)
    def exact(value: str) -> str:
        return value.strip()

    # then the index distinguishes case
    assert crypto.blind_index("abc", context=CONTEXT, normaliser=exact) != crypto.blind_index(
        "ABC", context=CONTEXT, normaliser=exact
    )
    assert crypto.blind_index("abc", context=CONTEXT) == crypto.blind_index("ABC", context=CONTEXT)


def test_the_blind_index_does_not_change_with_the_encryption_key(settings):
    # given an index computed under key 1
    before = crypto.blind_index("AB123456C", context=CONTEXT)

    # when a new encryption key becomes current
    use_keys(settings, "2", **{"1": KEY_1, "2": KEY_2})

    # then the index is the same, so existing indexes stay valid
    assert crypto.blind_index("AB123456C", context=CONTEXT) == before


@pytest.mark.django_db
@pytest.mark.parametrize("lookup", ["", "__iexact", "__startswith", "__contains", "__in"])
def test_filtering_on_the_encrypted_field_points_to_the_blind_index(lookup):
    # given a developer who filters on the encrypted column itself
    value = ["AB123456C"] if lookup == "__in" else "AB123456C"

    # then the query is refused with a message that says what to do instead
    with pytest.raises(EncryptedFieldLookupError, match="national_id_index=lookup_value"):
        User.objects.filter(**{f"national_id{lookup}": value}).exists()


def test_lookup_value_needs_a_blind_index():
    with pytest.raises(FieldError, match="has no BlindIndexField"):
        lookup_value(User, "username", "ana")


def test_blind_index_field_migrations_keep_non_default_options():
    # given an index field declared with options other than its defaults
    field = BlindIndexField(source="tax_id", null=False, db_index=False, context="shared.tax_id")

    # when it is deconstructed (as makemigrations does) and rebuilt
    _, path, args, kwargs = field.deconstruct()
    rebuilt = BlindIndexField(*args, **kwargs)

    # then nothing was lost
    assert path == "core.fields.BlindIndexField"
    assert (rebuilt.null, rebuilt.db_index, rebuilt.max_length) == (False, False, 64)
    assert (rebuilt.source, rebuilt.context) == ("tax_id", "shared.tax_id")
    assert BlindIndexField(source="x").deconstruct()[3] == {"source": "x"}


# --- key configuration ----------------------------------------------------------------


def test_dev_creates_a_private_key_file_on_first_use_and_reuses_it(settings, tmp_path):
    # given development settings with no keys yet
    path = tmp_path / "var" / "keys.json"
    settings.CIVICSTACK_KEYS = ""
    settings.CIVICSTACK_KEY_FILE = path
    settings.CIVICSTACK_CREATE_KEY_FILE = True

    # when a value is first encrypted
    token = crypto.encrypt("AB123456C", context=CONTEXT)

    # then the key file exists, readable by its owner only, in the documented format
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["current"] == "1"
    assert len(base64.b64decode(data["keys"]["1"])) == 32
    assert len(base64.b64decode(data["index_key"])) == 32

    # and a restarted process reads the same file rather than making new keys
    crypto.reset_keyring()
    assert crypto.decrypt(token, context=CONTEXT) == "AB123456C"
    assert json.loads(path.read_text()) == data


def test_missing_keys_outside_dev_is_a_configuration_error(settings, tmp_path):
    # given production settings with neither CIVICSTACK_KEYS nor a key file
    settings.CIVICSTACK_KEYS = ""
    settings.CIVICSTACK_KEY_FILE = tmp_path / "keys.json"
    settings.CIVICSTACK_CREATE_KEY_FILE = False

    # then using encryption says how to configure keys, and no file is invented
    with pytest.raises(ImproperlyConfigured, match="CIVICSTACK_KEYS"):
        crypto.encrypt("AB123456C", context=CONTEXT)
    assert not (tmp_path / "keys.json").exists()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("not json", "not valid JSON"),
        ({"current": "1", "keys": {}, "index_key": INDEX_KEY}, '"keys"'),
        ({"current": "3", "keys": {"1": KEY_1}, "index_key": INDEX_KEY}, '"current"'),
        ({"current": "1", "keys": {"1": "c2hvcnQ="}, "index_key": INDEX_KEY}, "32 bytes"),
        ({"current": "1", "keys": {"1": KEY_1}}, "index_key"),
        ({"current": "1", "keys": {"1": KEY_1}, "index_key": KEY_1}, "must differ"),
        ({"current": "a:b", "keys": {"a:b": KEY_1}, "index_key": INDEX_KEY}, "version"),
    ],
)
def test_bad_key_configuration_is_reported_without_revealing_keys(settings, keys, message):
    # given a mistake in CIVICSTACK_KEYS
    settings.CIVICSTACK_KEYS = keys if isinstance(keys, str) else json.dumps(keys)

    # then the error names the problem and never echoes key material
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        crypto.get_keyring()
    assert KEY_1 not in str(caught.value) and INDEX_KEY not in str(caught.value)


def test_a_process_reads_a_key_added_to_the_file_by_another(settings, tmp_path):
    # given a web process that loaded a key file holding key 1
    path = tmp_path / "keys.json"
    settings.CIVICSTACK_KEYS = ""
    settings.CIVICSTACK_KEY_FILE = path
    settings.CIVICSTACK_CREATE_KEY_FILE = True
    old = crypto.get_keyring()

    # when rotate_keys --generate, in another process, adds key 2 and seals a value with it
    new = crypto.with_new_key(old)
    crypto.write_key_file(new, path, replace=True)
    nonce = os.urandom(12)
    sealed = AESGCM(new.keys["2"]).encrypt(nonce, b"AB123456C", CONTEXT.encode())
    token = "v1:2:" + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    # then the web process reads the file again and opens the value
    assert crypto.decrypt(token, context=CONTEXT) == "AB123456C"


# --- rotation -------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotate_keys_re_encrypts_every_value_under_the_new_key(settings):
    # given users saved while key 1 was current (one of them without a national ID)
    use_keys(settings, "1", **{"1": KEY_1})
    ids = {"ana": "AB123456C", "ben": "CD234567E", "cy": "EF345678G"}
    users = [UserFactory(username=name, national_id=value) for name, value in ids.items()]
    nobody = UserFactory(username="dee", national_id="")
    indexes = {user.username: stored(user)[1] for user in users}

    # when key 2 is added and made current, and rotate_keys runs in small batches
    use_keys(settings, "2", **{"1": KEY_1, "2": KEY_2})
    out = StringIO()
    call_command("rotate_keys", "--batch-size", "2", stdout=out)

    # then every stored value is sealed with key 2, the plaintext and indexes unchanged
    assert "identity.User: 3 rows re-encrypted" in out.getvalue()
    for user in users:
        raw, index = stored(user)
        assert raw.startswith("v1:2:")
        assert index == indexes[user.username]
        assert User.objects.get(pk=user.pk).national_id == ids[user.username]
    assert stored(nobody) == ("", None)
    assert find("ab 123 456 c") == ["ana"]

    # and key 1 is no longer needed: the data opens with key 2 alone
    use_keys(settings, "2", **{"2": KEY_2})
    reloaded = User.objects.filter(national_id_index__isnull=False)
    assert sorted(user.national_id for user in reloaded) == sorted(ids.values())


@pytest.mark.django_db
def test_rotate_keys_twice_touches_nothing_the_second_time(settings):
    # given a rotation that has already run
    UserFactory(national_id="AB123456C")
    use_keys(settings, "2", **{"1": KEY_1, "2": KEY_2})
    call_command("rotate_keys", stdout=StringIO())

    # when it runs again
    out = StringIO()
    call_command("rotate_keys", stdout=out)

    # then it re-encrypts nothing
    assert "identity.User: 0 rows re-encrypted" in out.getvalue()


@pytest.mark.django_db
def test_rotate_keys_stops_at_a_value_it_cannot_open(settings):
    # given a value sealed with a key that was removed before rotating
    user = UserFactory(national_id="AB123456C")
    use_keys(settings, "2", **{"2": KEY_2})

    # then rotation stops and names the row (not the value), leaving it as it was
    with pytest.raises(CommandError, match=rf"identity\.User pk={user.pk} national_id"):
        call_command("rotate_keys", stdout=StringIO())
    assert stored(user)[0].startswith("v1:1:")


@pytest.mark.django_db
def test_rotate_keys_generate_adds_a_key_to_the_key_file_and_uses_it(settings, tmp_path):
    # given keys in a key file, and a user saved under key 1
    path = tmp_path / "keys.json"
    settings.CIVICSTACK_KEYS = ""
    settings.CIVICSTACK_KEY_FILE = path
    settings.CIVICSTACK_CREATE_KEY_FILE = True
    user = UserFactory(national_id="AB123456C")
    before = json.loads(path.read_text())

    # when the operator generates a new key
    out = StringIO()
    call_command("rotate_keys", "--generate", stdout=out)

    # then the file holds both keys with 2 current, still private, and the data moved to 2
    after = json.loads(path.read_text())
    assert after["current"] == "2"
    assert after["keys"]["1"] == before["keys"]["1"]
    assert after["index_key"] == before["index_key"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stored(user)[0].startswith("v1:2:")
    assert User.objects.get(pk=user.pk).national_id == "AB123456C"
    # and no key material was printed
    assert after["keys"]["2"] not in out.getvalue()
    assert before["keys"]["1"] not in out.getvalue()


@pytest.mark.django_db
def test_rotate_keys_generate_with_keys_in_the_environment_prints_them_and_stops(settings):
    # given keys that come from CIVICSTACK_KEYS, and a user saved under key 1
    use_keys(settings, "1", **{"1": KEY_1})
    user = UserFactory(national_id="AB123456C")

    # when the operator generates a new key
    out, err = StringIO(), StringIO()
    call_command("rotate_keys", "--generate", stdout=out, stderr=err)

    # then the new configuration is printed for the operator to deploy ...
    printed = json.loads(out.getvalue())
    assert printed["current"] == "2"
    assert printed["keys"]["1"] == KEY_1
    assert printed["index_key"] == INDEX_KEY
    assert "CIVICSTACK_KEYS" in err.getvalue()
    # ... and nothing is re-encrypted with a key the running processes do not have yet
    assert stored(user)[0].startswith("v1:1:")


@pytest.mark.parametrize("value", ["AB123456C", "ab 12-34 56 c", "", "Zoë-7", "x" * 200])
def test_blind_indexes_are_hmac_sha256_of_context_and_value(value):
    # given the index key, the HMAC-SHA256 of "context NUL normalised value" by the standard
    # library
    key = crypto.get_keyring().index_key
    normalised = crypto.normalise_identifier(value)
    expected = hmac.new(
        key, b"person.national_id.near\x00" + normalised.encode(), hashlib.sha256
    ).hexdigest()
    # then the blind index, alone or among others, is exactly that (stored indexes still match)
    assert crypto.blind_index(value, context="person.national_id.near") == expected
    assert crypto.blind_indexes([value, "x"], context="person.national_id.near")[0] == expected
