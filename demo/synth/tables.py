"""Hand-written tables the generator draws on: nicknames, spellings, places, keyboards."""

from enum import StrEnum

from faker.providers.person.en_GB import Provider as _FakerPeople


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


class ErrorKind(StrEnum):
    """Every way an agency's copy of a person can differ from the truth.

    Each generated source record carries the kinds applied to it, so tests and
    docs/demo.md count them from the generator itself.
    """

    TYPO_TRANSPOSITION = "typo_transposition"
    TYPO_DELETION = "typo_deletion"
    TYPO_INSERTION = "typo_insertion"
    TYPO_SUBSTITUTION = "typo_substitution"
    TYPO_OCR = "typo_ocr"
    SPELLING_VARIANT = "spelling_variant"
    NICKNAME = "nickname"
    MIDDLE_NAME_INITIAL = "middle_name_initial"
    MIDDLE_NAME_DROPPED = "middle_name_dropped"
    FAMILY_NAME_PARTIAL = "family_name_partial"
    NAME_CHANGE = "name_change"
    DOB_SWAPPED_DAY_MONTH = "dob_swapped_day_month"
    DOB_TYPO = "dob_typo"
    DOB_DEFAULTED = "dob_defaulted"
    DOB_MISSING = "dob_missing"
    DOB_UNPARSEABLE = "dob_unparseable"
    SEX_MISSING = "sex_missing"
    MOVED_ADDRESS = "moved_address"
    POSTCODE_TYPO = "postcode_typo"
    NATIONAL_ID_MISSING = "national_id_missing"
    NATIONAL_ID_MISTYPED = "national_id_mistyped"
    DUPLICATE = "duplicate"


TYPO_KINDS = (
    ErrorKind.TYPO_TRANSPOSITION,
    ErrorKind.TYPO_DELETION,
    ErrorKind.TYPO_INSERTION,
    ErrorKind.TYPO_SUBSTITUTION,
    ErrorKind.TYPO_OCR,
)

# Formal given name -> (sex, the short forms people actually go by).
NICKNAMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "William": ("M", ("Bill", "Will", "Billy", "Liam")),
    "Robert": ("M", ("Bob", "Rob", "Bobby", "Robbie")),
    "Richard": ("M", ("Rick", "Rich", "Dick")),
    "James": ("M", ("Jim", "Jimmy", "Jamie")),
    "Michael": ("M", ("Mike", "Mick", "Mikey")),
    "Thomas": ("M", ("Tom", "Tommy")),
    "Christopher": ("M", ("Chris", "Kit")),
    "Jonathan": ("M", ("Jon", "Jonny")),
    "Anthony": ("M", ("Tony", "Ant")),
    "Andrew": ("M", ("Andy", "Drew")),
    "Daniel": ("M", ("Dan", "Danny")),
    "Matthew": ("M", ("Matt",)),
    "Joseph": ("M", ("Joe", "Joey")),
    "Edward": ("M", ("Ed", "Eddie", "Ted", "Ned")),
    "Alexander": ("M", ("Alex", "Sandy")),
    "Benjamin": ("M", ("Ben", "Benny")),
    "Samuel": ("M", ("Sam", "Sammy")),
    "Nicholas": ("M", ("Nick", "Nicky")),
    "Stephen": ("M", ("Steve",)),
    "Timothy": ("M", ("Tim", "Timmy")),
    "Peter": ("M", ("Pete",)),
    "David": ("M", ("Dave", "Davy")),
    "Charles": ("M", ("Charlie", "Chas")),
    "Patrick": ("M", ("Pat", "Paddy")),
    "Gregory": ("M", ("Greg",)),
    "Philip": ("M", ("Phil",)),
    "Frederick": ("M", ("Fred", "Freddie")),
    "Elizabeth": ("F", ("Liz", "Beth", "Lizzie", "Betty")),
    "Katherine": ("F", ("Kate", "Kathy", "Katie")),
    "Catherine": ("F", ("Cathy", "Cath", "Kate")),
    "Margaret": ("F", ("Maggie", "Meg", "Peggy")),
    "Jennifer": ("F", ("Jen", "Jenny")),
    "Rebecca": ("F", ("Becky", "Becca")),
    "Victoria": ("F", ("Vicky", "Tori")),
    "Susan": ("F", ("Sue", "Susie")),
    "Deborah": ("F", ("Debbie", "Deb")),
    "Jessica": ("F", ("Jess", "Jessie")),
    "Samantha": ("F", ("Sam", "Sammie")),
    "Alexandra": ("F", ("Alex", "Lexi")),
    "Christine": ("F", ("Chris", "Chrissie")),
    "Patricia": ("F", ("Pat", "Trish")),
    "Jacqueline": ("F", ("Jackie",)),
    "Abigail": ("F", ("Abby", "Abi")),
    "Eleanor": ("F", ("Ellie", "Nell")),
    "Charlotte": ("F", ("Lottie", "Charlie")),
    "Amanda": ("F", ("Mandy",)),
    "Josephine": ("F", ("Jo", "Josie")),
    "Frances": ("F", ("Fran", "Frankie")),
}

# Spellings that are the same name to the person and different strings to a computer.
SPELLING_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Thompson", "Thomson"),
    ("Phillips", "Philips"),
    ("Macdonald", "McDonald", "MacDonald"),
    ("Stephens", "Stevens"),
    ("Matthews", "Mathews"),
    ("Davies", "Davis"),
    ("Reid", "Reed", "Read"),
    ("Gray", "Grey"),
    ("Smith", "Smyth"),
    ("Clarke", "Clark"),
    ("Steven", "Stephen"),
    ("Sean", "Shaun", "Shawn"),
    ("Catherine", "Katherine", "Kathryn"),
    ("Sarah", "Sara"),
    ("Ann", "Anne"),
    ("Mohammed", "Muhammad", "Mohammad"),
    ("Philip", "Phillip"),
    ("Geoffrey", "Jeffrey"),
    ("Isobel", "Isabel", "Isabelle"),
    ("Louise", "Louisa"),
)
SPELLINGS: dict[str, tuple[str, ...]] = {
    name: tuple(other for other in group if other != name)
    for group in SPELLING_GROUPS
    for name in group
}

MALE_GIVEN_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *_FakerPeople.first_names_male,
            *(n for n, (s, _) in NICKNAMES.items() if s == "M"),
            "Steven",
            "Sean",
            "Shaun",
            "Mohammed",
            "Muhammad",
            "Geoffrey",
        ]
    )
)
FEMALE_GIVEN_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *_FakerPeople.first_names_female,
            *(n for n, (s, _) in NICKNAMES.items() if s == "F"),
            "Sarah",
            "Ann",
            "Anne",
            "Isobel",
            "Louise",
            "Kathryn",
        ]
    )
)
# Faker's en_GB surnames come with frequency weights; spelling-group surnames join them.
FAMILY_NAMES: tuple[tuple[str, float], ...] = tuple(
    {
        **dict(_FakerPeople.last_names),
        **{
            n: 0.3
            for g in SPELLING_GROUPS[:10]
            for n in g
            if n not in dict(_FakerPeople.last_names)
        },
    }.items()
)

# British-sounding place names: syllable + ending (some are real towns, most are not).
TOWN_STEMS = _words(
    "Ash Brad Bram Chester Dun Elm Fern Glen Hart Hol Kings Lang Lox Mar Mel Nor Ox Pen "
    "Ross Sand Stan Thorn Wal Wes Whit Wood Bar Cal Dor Fal Hay Lin Mill Red Sal Tam Wick "
    "Ald Bel Crom Dal Eas Gran Kel Ling Mort Neth"
)
TOWN_ENDINGS = _words(
    "ford ham ton bury wick by field stead ley mouth borough bridge combe minster well "
    "worth thorpe caster dale holme"
)
STREET_STEMS = (
    *_words("High Church Station Mill Park Victoria Albert Castle Market New Old Orchard Meadow"),
    *_words("Elm Oak Beech Willow Ash Cedar Holly Rectory Vicarage Hawthorn Windmill Farm"),
    *_words("Springfield Riverside Kingsway Grange Priory Abbey Hillside Brook Lime Poplar"),
    *_words("Sycamore Green North South London Bridge School Chapel Manor"),
    "Queen's",
    "King's",
    "St John's",
    "St Mary's",
)
STREET_ENDINGS = _words(
    "Road Street Lane Avenue Close Drive Way Gardens Crescent Place Terrace Grove Court "
    "Hill Row Walk Green Mews Park Rise View"
)
STREET_ABBREVIATIONS = {
    "Road": "Rd",
    "Street": "St",
    "Avenue": "Ave",
    "Lane": "Ln",
    "Drive": "Dr",
    "Crescent": "Cres",
    "Gardens": "Gdns",
    "Terrace": "Ter",
    "Place": "Pl",
    "Court": "Ct",
}
# Real postcode areas; the districts and units drawn under them are made up.
POSTCODE_AREAS = _words(
    "AB AL B BA BB BD BH BL BN BR BS CA CB CF CH CM CO CT CV CW DA DD DE DH DL DN DT DY "
    "EH EN EX FK FY GL GU HA HD HG HP HR HU HX IP KA KT KY L LA LD LE LL LN LS LU M ME MK "
    "NE NG NN NP NR OL OX PE PL PO PR RG RH RM S SA SG SK SL SN SO SP SR SS ST SY TA TF TN "
    "TQ TR TS TW WA WD WF WN WR WS WV YO"
)
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "post.example")

GP_PRACTICE_KINDS = ("Medical Centre", "Surgery", "Health Centre", "Group Practice")
SOCIAL_SERVICES = (
    "housing support",
    "child in need",
    "adult social care",
    "carer support",
    "income support",
    "disability support",
)
EMPLOYMENT = ("employed", "self-employed", "retired", "unemployed", "student")

# Neighbouring keys on a UK QWERTY keyboard, for substitution typos.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
KEYBOARD_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _ch in enumerate(_row):
        _near = [_row[i] for i in (_c - 1, _c + 1) if 0 <= i < len(_row)]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < len(_ROWS):
                _near += [_ROWS[_other][i] for i in (_c - 1, _c) if 0 <= i < len(_ROWS[_other])]
        KEYBOARD_NEIGHBOURS[_ch] = "".join(_near)

# What a scanner makes of handwriting and small print.
OCR_CONFUSIONS: tuple[tuple[str, str], ...] = (
    ("rn", "m"),
    ("m", "rn"),
    ("cl", "d"),
    ("li", "h"),
    ("w", "vv"),
    ("O", "0"),
    ("o", "0"),
    ("l", "1"),
    ("I", "l"),
    ("S", "5"),
    ("B", "8"),
    ("e", "c"),
    ("h", "b"),
    ("u", "v"),
)
