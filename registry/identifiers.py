"""Keys of an identifier that let linkage find it mistyped, without ever reading it.

`one_edit_keys(national_id)`: first the ID's head and tail (its first and its last
(length - 1) // 2 characters, marked "^..." and "...$"), then the ID itself and each of
the ID with one character left out. Two IDs one typo apart ("4173804" / "4178304": two
digits swapped; "3776965" / "3776945": one digit wrong) share the head or the tail, and a
key; so do one character more or fewer where both lengths give the same half, and one
character moved ("4173804" / "3417804"), the only pairs more than one edit apart that
share a key. In the database each key is stored as a blind index (an HMAC, see
`core.fields.BlindKeysField`), so comparing keys never needs the IDs themselves.
"""

from __future__ import annotations


def one_edit_keys(national_id: str | None) -> list[str]:
    if not national_id:
        return []
    half = (len(national_id) - 1) // 2
    keys = ["^" + national_id[:half], (national_id[-half:] if half else "") + "$", national_id]
    keys += [national_id[:i] + national_id[i + 1 :] for i in range(len(national_id))]
    return keys
